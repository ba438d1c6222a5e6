// Command hush is end-to-end encrypted messaging: client and server in one
// binary. See the README and `hush help`.
package main

import (
	"os"

	"github.com/hush-chat/hush/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
