package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// procs holds the processes scripts started, by script and name.
var procs sync.Map

func procKey(ts *testscript.TestScript, name string) string { return fmt.Sprintf("%p/%s", ts, name) }

// TestMain makes the test binary double as the hush command for the
// scripts in testdata/script (testscript puts it on their PATH as "hush").
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hush": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts: real `hush server` processes on
// 127.0.0.1:0, users in separate home directories, the real CLI.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hushserver":  cmdHushServer,
			"genlines":    cmdGenLines,
			"checklines":  cmdCheckLines,
			"waitlines":   cmdWaitLines,
			"genbytes":    cmdGenBytes,
			"spawn":       cmdSpawn,
			"kill9":       cmdKill9,
			"samenumber":  cmdSameNumber,
			"plainbroker": cmdPlainBroker,
			"writeq":      cmdWriteQuoted,
			"grabinvite":  cmdGrabInvite,
			"grablink":    cmdGrabLink,
			"grabcode":    cmdGrabCode,
			"waitmatch":   cmdWaitMatch,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HUSH_PASSPHRASE", "")
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, "xdg"))
			return nil
		},
	})
}

// hushserver [stop] [server flags…] starts `hush server` on loopback port 0
// with its data in $WORK/server and sets $SERVER to its URL; "stop" kills
// it (SIGKILL) so a later hushserver restarts on the same data.
func cmdHushServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! hushserver")
	}
	if len(args) == 1 && args[0] == "stop" {
		if p, ok := procs.Load(procKey(ts, "server")); ok {
			p := p.(*os.Process)
			p.Kill()
			p.Wait()
		}
		return
	}
	bin, err := exec.LookPath("hush")
	if err != nil {
		ts.Fatalf("hush not on PATH: %v", err)
	}
	argv := append([]string{"server", "--listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0",
		"--data", ts.MkAbs("server"), "--log-level", "warn"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = scriptEnv(ts)
	out, err := cmd.StdoutPipe()
	ts.Check(err)
	logf, err := os.Create(ts.MkAbs("server.log"))
	ts.Check(err)
	cmd.Stderr = logf
	ts.Check(cmd.Start())
	ts.Defer(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	procs.Store(procKey(ts, "server"), cmd.Process)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		ts.Fatalf("server did not print its URL: %q %v", line, err)
	}
	go func() { // keep draining so the server never blocks on stdout
		b := make([]byte, 4096)
		for {
			if _, err := out.Read(b); err != nil {
				return
			}
		}
	}()
	ts.Setenv("SERVER", strings.TrimSpace(line))
}

// genlines FILE N writes N lines "message 0001" … to FILE.
func cmdGenLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: genlines file n")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "message %04d\n", i)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644))
}

// genbytes FILE N writes N bytes of 'x' to FILE.
func cmdGenBytes(ts *testscript.TestScript, neg bool, args []string) {
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Repeat("x", n)), 0o644))
}

// checklines [-atmost] N FILE… reads JSON message lines from the files
// (in order) and checks that together they hold "message 0001" …
// "message N" each exactly once (with -atmost: none twice), in order within
// each file.
func cmdCheckLines(ts *testscript.TestScript, neg bool, args []string) {
	atMost := len(args) > 0 && args[0] == "-atmost"
	if atMost {
		args = args[1:]
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	seen := map[string]int{}
	for _, f := range args[1:] {
		prev := ""
		for _, line := range strings.Split(strings.TrimSpace(ts.ReadFile(f)), "\n") {
			if line == "" {
				continue
			}
			var m struct{ Text string }
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				ts.Fatalf("%s: not a JSON message line: %q", f, line)
			}
			if m.Text <= prev {
				ts.Fatalf("%s: %q arrived after %q", f, m.Text, prev)
			}
			prev = m.Text
			seen[m.Text]++
		}
	}
	for i := 1; i <= n; i++ {
		text := fmt.Sprintf("message %04d", i)
		if seen[text] > 1 || (!atMost && seen[text] != 1) {
			ts.Fatalf("%q seen %d times", text, seen[text])
		}
	}
	if !atMost && len(seen) != n {
		ts.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
}

// waitlines FILE N waits (up to 60 s) until FILE has at least N lines.
func cmdWaitLines(ts *testscript.TestScript, neg bool, args []string) {
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if strings.Count(string(b), "\n") >= n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s has %d lines after 60 s, want %d", args[0], strings.Count(string(b), "\n"), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spawn NAME FILE PROG ARGS… starts PROG in the background with its
// standard output appended to FILE (so waitlines can watch it).
func cmdSpawn(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: spawn name file prog args...")
	}
	bin, err := exec.LookPath(args[2])
	ts.Check(err)
	f, err := os.OpenFile(ts.MkAbs(args[1]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	cmd := exec.Command(bin, args[3:]...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout, cmd.Stderr = f, f
	ts.Check(cmd.Start())
	procs.Store(procKey(ts, "spawn:"+args[0]), cmd)
	ts.Defer(func() { cmd.Process.Kill(); cmd.Wait(); f.Close() })
}

// writeq FILE QUOTED writes the Go-quoted string QUOTED (escapes such as
// \x1b and \u202e decoded) to FILE: a way to put control bytes in a file.
func cmdWriteQuoted(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: writeq file quoted")
	}
	s, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(s), 0o644))
}

// grabinvite VAR sets $VAR to the invite code the last command printed
// ("invite code XXXX-XXXX-XXXX-XXXX (…").
func cmdGrabInvite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: grabinvite var")
	}
	m := regexp.MustCompile(`(?m)^invite code (\S+) `).FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("no invite code in the last output")
	}
	ts.Setenv(args[0], m[1])
}

// waitmatch FILE REGEXP waits (up to 60 s) until FILE has a line matching
// REGEXP.
func cmdWaitMatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitmatch file regexp")
	}
	waitMatch(ts, args[0], regexp.MustCompile("(?m)"+args[1]))
}

func waitMatch(ts *testscript.TestScript, file string, re *regexp.Regexp) []string {
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(file))
		if m := re.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s has no line matching %s after 60 s:\n%s", file, re, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// grablink VAR FILE waits for the link code a spawned hush device link
// writes to FILE ("link code: HUSH-LINK-…") and sets $VAR to it.
func cmdGrabLink(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: grablink var file")
	}
	ts.Setenv(args[0], waitMatch(ts, args[1], regexp.MustCompile(`(?m)^link code: (HUSH-LINK-\S+)`))[1])
}

// grabcode VAR FILE waits for the recovery code a spawned hush recovery
// start writes to FILE and sets $VAR to it.
func cmdGrabCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: grabcode var file")
	}
	ts.Setenv(args[0], waitMatch(ts, args[1], regexp.MustCompile(`(?m)^recovery code: (HUSH-RECOVER-\S+)`))[1])
}

// kill9 NAME kills a spawned process with SIGKILL and waits for it.
func cmdKill9(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := procs.Load(procKey(ts, "spawn:"+args[0]))
	if !ok {
		ts.Fatalf("no spawned process %q", args[0])
	}
	cmd := v.(*exec.Cmd)
	cmd.Process.Kill()
	cmd.Wait()
}

// samenumber FILE1 LABEL1 FILE2 LABEL2 checks that the safety number
// printed on the line after the line containing LABEL1 in FILE1 is the one
// printed after LABEL2 in FILE2 (with !: that both are there and differ).
func cmdSameNumber(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: samenumber file1 label1 file2 label2")
	}
	a, b := numberAfter(ts, args[0], args[1]), numberAfter(ts, args[2], args[3])
	if (a == b) == neg {
		ts.Fatalf("%s %q: %s\n%s %q: %s", args[0], args[1], a, args[2], args[3], b)
	}
}

var safetyNumberLine = regexp.MustCompile(`^\d{5}( \d{5}){11}$`)

func numberAfter(ts *testscript.TestScript, file, label string) string {
	lines := strings.Split(ts.ReadFile(file), "\n")
	for i, l := range lines {
		if strings.Contains(l, label) && i+1 < len(lines) && safetyNumberLine.MatchString(lines[i+1]) {
			return lines[i+1]
		}
	}
	ts.Fatalf("%s: no safety number after %q", file, label)
	return ""
}

// scriptEnv is the script's environment for a child process.
func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "HUSH_PASSPHRASE", "XDG_DATA_HOME", "SERVER"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}
