package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Building the Dockerfile needs a container engine, which a test environment
// may lack. These tests check what reading it can show: its COPY sources
// exist and are not excluded by .dockerignore, and its build commands carry
// the Makefile's flags.

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerInstructions returns the Dockerfile's instructions, with line
// continuations joined and comments left out.
func dockerInstructions(text string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		out = append(out, cur+trimmed)
		cur = ""
	}
	return out
}

func TestDockerfileCopySourcesExist(t *testing.T) {
	ignored := map[string]bool{}
	for _, line := range strings.Split(readRepoFile(t, ".dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			ignored[strings.TrimSuffix(line, "/")] = true
		}
	}

	copies := 0
	for _, ins := range dockerInstructions(readRepoFile(t, "Dockerfile")) {
		fields := strings.Fields(ins)
		if fields[0] != "COPY" || strings.HasPrefix(fields[1], "--from=") {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			copies++
			clean := strings.TrimSuffix(src, "/")
			if _, err := os.Stat(filepath.Join("..", clean)); err != nil {
				t.Errorf("COPY source %s: %v", src, err)
			}
			if ignored[clean] {
				t.Errorf("COPY source %s is excluded by .dockerignore", src)
			}
		}
	}
	if copies < 4 {
		t.Errorf("COPY sources found = %d, want go.mod, go.sum, component/, internal/ and host/", copies)
	}
}

// makeRecipe returns the go build line of the Makefile rule for target,
// with $(GO) as go.
func makeRecipe(t *testing.T, makefile, target string) string {
	t.Helper()
	lines := strings.Split(makefile, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, target+":") {
			continue
		}
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			r = strings.ReplaceAll(strings.TrimSpace(r), "$(GO)", "go")
			if strings.Contains(r, "go build ") {
				return r
			}
		}
	}
	t.Fatalf("no go build line in the Makefile rule for %s", target)
	return ""
}

// dockerRun returns the Dockerfile RUN command that builds pkg.
func dockerRun(t *testing.T, dockerfile, pkg string) string {
	t.Helper()
	for _, ins := range dockerInstructions(dockerfile) {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, " go build ") &&
			strings.HasSuffix(ins, " "+pkg) {
			return strings.TrimPrefix(ins, "RUN ")
		}
	}
	t.Fatalf("no RUN go build ... %s in the Dockerfile", pkg)
	return ""
}

// buildArgs returns the words of a build command other than the output
// path, which differs between the Makefile ($@) and the Dockerfile.
func buildArgs(cmd string) []string {
	var out []string
	words := strings.Fields(cmd)
	for i := 0; i < len(words); i++ {
		if words[i] == "-o" {
			i++
			continue
		}
		out = append(out, words[i])
	}
	return out
}

func TestDockerfileBuildMatchesMakefile(t *testing.T) {
	makefile := readRepoFile(t, "Makefile")
	dockerfile := readRepoFile(t, "Dockerfile")

	for _, tc := range []struct {
		target, pkg string
		extra       []string // words the Dockerfile adds
	}{
		{"$(GUEST)", "./component", nil},
		{"$(HOST)", "./host", []string{"CGO_ENABLED=0", `-ldflags="-X`, `main.version=${VERSION}"`}},
	} {
		t.Run(strings.TrimPrefix(tc.pkg, "./"), func(t *testing.T) {
			want := buildArgs(makeRecipe(t, makefile, tc.target))
			got := buildArgs(dockerRun(t, dockerfile, tc.pkg))
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("Dockerfile build of %s lacks %q from the Makefile\n got: %s", tc.pkg, w, got)
				}
			}
			for _, g := range got {
				if !slices.Contains(want, g) && !slices.Contains(tc.extra, g) {
					t.Errorf("Dockerfile build of %s has %q, which the Makefile does not", tc.pkg, g)
				}
			}
		})
	}

	// The host build embeds host/guest.wasm, so the guest must be copied
	// there between the two builds.
	if !strings.Contains(dockerfile, "RUN cp build/guest.wasm host/guest.wasm") {
		t.Error("the Dockerfile does not copy the guest to host/guest.wasm before the host build")
	}
}

func TestDockerfileRuntime(t *testing.T) {
	ins := dockerInstructions(readRepoFile(t, "Dockerfile"))
	last := 0
	for i, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			last = i
		}
	}
	runtime := ins[last:]
	for _, want := range []string{"USER 65532:65532", "EXPOSE 8000",
		`ENTRYPOINT ["/usr/local/bin/edgetoken-host"]`} {
		if !slices.Contains(runtime, want) {
			t.Errorf("runtime stage lacks %q", want)
		}
	}
	for _, in := range runtime {
		if strings.HasPrefix(in, "ENV ") && (strings.Contains(in, "SECRET") || strings.Contains(in, "AZURE_") ||
			strings.Contains(in, "IDENTITY_")) {
			t.Errorf("runtime stage sets a credential variable: %s", in)
		}
	}
}
