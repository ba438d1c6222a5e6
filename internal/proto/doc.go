// Package proto is the wire contract of the hush server's HTTP and MQTT
// API (doc/API.md): the one place where a request, an answer, an error
// code, a topic name or a frame is defined. The client (package hush and
// internal/apiclient) and the server (internal/server/...) both import it
// and never each other, as tailscale's tailcfg sits between its client and
// its control server.
//
// It holds types, constants, encoders and the checks both sides make: the
// signing of directory requests and the verification of signed directory
// answers, the relay's topics and frames, room publications and the login
// challenge. It imports only the standard library and the protocol core
// (internal/identity, pqxdh, wire): no network, no storage, no server
// machinery (internal/arch checks it).
package proto
