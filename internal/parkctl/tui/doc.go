// Package tui is `parkctl dashboard`: a live terminal view of a Park
// deployment, built on bubbletea (the Elm architecture: Update changes
// state and returns commands, View draws it).
//
// Model is the root: a tab bar, one view model per tab (overview.go,
// sites.go with the spaces of a site, orphans.go with the assign picker
// and its confirmation, reservations.go with the keys and secrets), and a
// status line. Data comes from a Store (data.go), implemented with real
// queries by internal/parkctl/dashboard.
//
// Every load runs in a tea.Cmd, never in Update. Each takes a sequence
// number; an answer older than the one shown, or for something no longer
// shown (another site's spaces), is dropped. A refresh timer loads the
// view on screen again; a failed load leaves the last data on screen and
// says why in the status line, and a database that cannot be reached is
// shown as "reconnecting" and tried again on every tick until a load
// succeeds.
package tui
