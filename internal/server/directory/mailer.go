package directory

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// smtpTimeout bounds one delivery when the context has no deadline.
const smtpTimeout = time.Minute

// NewSMTPMailer returns a Mailer that delivers through the SMTP server at
// addr (host:port) with the envelope and header sender from. It upgrades
// the connection with STARTTLS whenever the server offers it (verifying the
// certificate for the host of addr) and then authenticates with auth, if
// not nil; net/smtp refuses to send PLAIN credentials over an unencrypted
// connection to anything but localhost.
func NewSMTPMailer(addr, from string, auth smtp.Auth) Mailer {
	return &smtpMailer{addr: addr, from: from, auth: auth, now: time.Now}
}

type smtpMailer struct {
	addr, from string
	auth       smtp.Auth
	now        func() time.Time
}

var errHeaderValue = errors.New("directory: e-mail header value holds a line break")

// Send delivers one plain-text message.
func (m *smtpMailer) Send(ctx context.Context, to, subject, body string) error {
	for _, v := range []string{m.from, to, subject} {
		// A line break in a header value would let its author add headers
		// or recipients.
		if strings.ContainsAny(v, "\r\n") {
			return errHeaderValue
		}
	}
	host, _, err := net.SplitHostPort(m.addr)
	if err != nil {
		return fmt.Errorf("directory: smtp address: %w", err)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("directory: smtp dial: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(smtpTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("directory: smtp greeting: %w", err)
	}
	defer c.Close()
	if err := m.deliver(c, host, to, subject, body); err != nil {
		return fmt.Errorf("directory: smtp: %w", err)
	}
	return c.Quit()
}

func (m *smtpMailer) deliver(c *smtp.Client, host, to, subject, body string) error {
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if m.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server does not offer AUTH")
		}
		if err := c.Auth(m.auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write(m.message(to, subject, body)); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// message formats the mail; net/smtp turns its \n into CRLF.
func (m *smtpMailer) message(to, subject, body string) []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	domain := "hush.invalid"
	if at := strings.LastIndexByte(m.from, '@'); at >= 0 {
		domain = m.from[at+1:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\n", m.from)
	fmt.Fprintf(&b, "To: %s\n", to)
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\n", m.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	b.WriteString(body)
	return []byte(b.String())
}
