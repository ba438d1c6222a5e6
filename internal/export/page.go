package export

import (
	"fmt"
	"html/template"
	"io"
	"net/url"
	"time"

	"github.com/hush-chat/hush"
)

// timeLayout shows times in UTC so the page reads the same wherever it
// was exported.
const timeLayout = "2006-01-02 15:04:05 UTC"

// item is one message as the page shows it.
type item struct {
	hush.Message
	state fileState
	file  string // the name under files/ when included
}

// pageMessage is what the template sees of one message.
type pageMessage struct {
	Class    string // "in" or "out"
	From     string
	Time     string
	Text     string
	State    string // delivery state of an outgoing message
	FileName string // as the sender named it
	FileSize string
	Href     string // files/<escaped name>, empty when not included
	Note     string // why there is no link
}

type pageData struct {
	Title    string
	Self     string
	Peer     string
	Exported string
	Messages []pageMessage
}

// page is the whole index.html. html/template escapes every value for
// its context; the CSP meta tag forbids scripts and any network access
// as a second line of defence.
var page = template.Must(template.New("index.html").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:48em;margin:2em auto;padding:0 1em;color:#222}
header p{color:#666}
ol{list-style:none;padding:0}
li{margin:.6em 0;padding:.5em .8em;border-radius:.5em;background:#f1f1f1}
li.out{background:#dcecff;margin-left:3em}
li.in{margin-right:3em}
.from{font-weight:bold}
.time,.state,.note{color:#666;font-size:.85em}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0 0}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p>Exported by <span class="self">{{.Self}}</span> on <time>{{.Exported}}</time>. Times are UTC.</p>
</header>
<ol>
{{- range .Messages}}
<li class="{{.Class}}"><span class="from">{{.From}}</span> <time class="time">{{.Time}}</time>
{{- if .State}} <span class="state">{{.State}}</span>{{end}}
{{- if .Text}}
<p class="text">{{.Text}}</p>
{{- end}}
{{- if .FileName}}
<p class="file">{{if .Href}}<a href="{{.Href}}">{{.FileName}}</a>{{else}}{{.FileName}}{{end}} <span class="note">({{.FileSize}}{{if .Note}}, {{.Note}}{{end}})</span></p>
{{- end}}
</li>
{{- end}}
</ol>
</body>
</html>
`))

// writePage renders index.html.
func writePage(w io.Writer, c Conversation, items []item) error {
	d := pageData{
		Title:    fmt.Sprintf("Conversation between %s and %s", c.Self, c.Peer),
		Self:     c.Self,
		Peer:     c.Peer,
		Exported: formatTime(c.Exported),
		Messages: make([]pageMessage, len(items)),
	}
	for i, it := range items {
		d.Messages[i] = pageItem(it)
	}
	return page.Execute(w, d)
}

func pageItem(it item) pageMessage {
	p := pageMessage{Class: "in", From: it.From, Time: formatTime(it.SentAt), Text: it.Text}
	if it.Data != nil {
		// An application's bytes: the page says what and how much, as hush
		// history does.
		p.Text = fmt.Sprintf("[data, %d bytes]", len(it.Data))
	}
	if it.Outgoing {
		p.Class, p.State = "out", it.State.String()
	}
	if a := it.Attachment; a != nil && it.state != fileNone {
		// The page shows the name as stored, never the sender's raw
		// name: a bidi override or a path in it would mislead the reader.
		p.FileName, p.FileSize = safeName(a.Name), formatSize(a.Size)
		if a.Name == "" {
			p.FileName = "(unnamed file)"
		}
		switch it.state {
		case fileIncluded:
			p.FileName, p.Href = it.file, "files/"+url.PathEscape(it.file)
		case fileMissing:
			p.Note = "not downloaded"
		case fileSkipped:
			p.Note = "not included in this export"
		}
	}
	return p
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.UTC().Format(timeLayout)
}

// formatSize gives a size in bytes, KiB, MiB or GiB.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
