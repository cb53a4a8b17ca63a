package cmdutil

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// Confirm asks the user to approve a destructive action. With yes it
// approves at once. Without a terminal on standard input it refuses with
// exit code 2 (usage): a script must say --yes. Otherwise it shows prompt
// on standard error and accepts "y" or "yes"; anything else returns
// ErrCancelled.
func Confirm(ios *iostreams.IOStreams, yes bool, prompt string) error {
	if yes {
		return nil
	}
	if !ios.CanPrompt() {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--yes is required when standard input is not a terminal (%s)", prompt)}
	}
	fmt.Fprintf(ios.ErrOut, "%s [y/N] ", prompt)
	answer, err := bufio.NewReader(ios.In).ReadString('\n')
	if err != nil && answer == "" {
		fmt.Fprintln(ios.ErrOut)
		return ErrCancelled
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return ErrCancelled
}
