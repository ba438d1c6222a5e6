// Package arch holds no code: its tests check the shape of the module, such
// as which packages may import the network, the disk or the clock.
package arch
