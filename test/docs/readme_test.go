// Package docs checks that the README's configuration tables stay complete
// as variables are added.
package docs

import (
	"os"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
)

func TestReadmeListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)

	vars := append(config.Variables(), access.Variables()...)
	for _, v := range vars {
		row := "| `" + v.Name + "` | "
		i := strings.Index(text, row)
		if i < 0 {
			t.Errorf("README has no configuration row for %s", v.Name)
			continue
		}
		line := text[i:]
		line = line[:strings.IndexByte(line, '\n')]
		want := "(none)"
		if v.Default != "" {
			want = "`" + v.Default + "`"
		}
		if !strings.HasPrefix(line[len(row):], want+" |") {
			t.Errorf("README row for %s: got %q, want default %s", v.Name, line, want)
		}
	}
}
