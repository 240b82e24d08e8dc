// Command gatehouse is a user-authentication web app: sign up, log in, log
// out, password change and reset, a staff admin. Run it with no arguments to
// serve; management subcommands (createsuperuser, changepassword,
// clearsessions) work on the same database, like Django's. The command
// line is internal/cli.
package main

import (
	"os"

	"gatehouse/internal/cli"
)

func main() { os.Exit(cli.Main()) }
