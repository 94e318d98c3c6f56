package config

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// The local stack and the image are configuration too: these tests keep
// docker-compose.yml and deployments/Dockerfile in step with what Config
// reads.

const (
	composeFile    = "../docker-compose.yml"
	dockerfileFile = "../deployments/Dockerfile"
	goModFile      = "../go.mod"
)

// compose is the part of a compose file the checks read.
type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image           string               `yaml:"image"`
	Build           *build               `yaml:"build"`
	Command         yaml.Node            `yaml:"command"` // a string or a list
	Environment     map[string]string    `yaml:"environment"`
	Volumes         []string             `yaml:"volumes"`
	Ports           []string             `yaml:"ports"`
	DependsOn       map[string]dependsOn `yaml:"depends_on"`
	Healthcheck     *struct{}            `yaml:"healthcheck"`
	StopGracePeriod string               `yaml:"stop_grace_period"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

// args is the command as a list of words.
func (s service) args() []string {
	var list []string
	if s.Command.Decode(&list) == nil {
		return list
	}
	var line string
	if s.Command.Decode(&line) == nil {
		return strings.Fields(line)
	}
	return nil
}

func parseCompose(tb testing.TB, data []byte) compose {
	tb.Helper()
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		tb.Fatalf("parse compose file: %v", err)
	}
	return c
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return b
}

// variables is the set of environment variables Config reads.
func variables() map[string]bool {
	vars := map[string]bool{}
	for _, v := range Variables() {
		vars[v.Name] = true
	}
	return vars
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// composeProblems checks the local stack: the pubsub emulator, a one-shot
// setup and the worker, running the turnstile image with an environment
// that config reads and accepts, wired to the emulator.
func composeProblems(c compose) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	pubsub, setup, worker := c.Services["pubsub"], c.Services["setup"], c.Services["worker"]
	for _, name := range []string{"pubsub", "setup", "worker"} {
		if _, ok := c.Services[name]; !ok {
			bad("no %s service", name)
		}
	}
	if len(problems) > 0 {
		return problems
	}

	// Every variable a turnstile container gets is one config reads.
	known := variables()
	for _, name := range []string{"setup", "worker"} {
		for k := range c.Services[name].Environment {
			if !known[k] {
				bad("%s sets %s, which config does not read", name, k)
			}
		}
	}

	// setup and worker are the same image with the same configuration.
	if setup.Image == "" || setup.Image != worker.Image {
		bad("setup runs image %q, worker %q: want one turnstile image", setup.Image, worker.Image)
	}
	if setup.Build == nil || worker.Build == nil || *setup.Build != *worker.Build {
		bad("setup and worker build differently: %+v and %+v", setup.Build, worker.Build)
	} else if path.Clean(setup.Build.Dockerfile) != "deployments/Dockerfile" {
		bad("the turnstile image is built from %q, want deployments/Dockerfile", setup.Build.Dockerfile)
	}
	if diff := cmp.Diff(setup.Environment, worker.Environment); diff != "" {
		bad("setup and worker environments differ (-setup +worker):\n%s", diff)
	}
	if !slices.Equal(setup.Volumes, worker.Volumes) {
		bad("setup mounts %v, worker %v: setup must create the tables in the worker's database", setup.Volumes, worker.Volumes)
	}
	if got := setup.args(); !slices.Equal(got, []string{"setup"}) {
		bad("setup runs %q, want [setup]", got)
	}
	if got := worker.args(); !slices.Equal(got, []string{"serve"}) {
		bad("worker runs %q, want [serve]", got)
	}

	// Start order: emulator healthy, then setup to completion, then worker.
	if pubsub.Healthcheck == nil {
		bad("pubsub has no healthcheck, so setup cannot wait for it")
	}
	if got := setup.DependsOn["pubsub"].Condition; got != "service_healthy" {
		bad("setup depends on pubsub with condition %q, want service_healthy", got)
	}
	if got := worker.DependsOn["setup"].Condition; got != "service_completed_successfully" {
		bad("worker depends on setup with condition %q, want service_completed_successfully", got)
	}

	// The worker reaches the emulator, in the project the emulator serves.
	env := worker.Environment
	emuArgs := pubsub.args()
	if host, port, _ := net.SplitHostPort(env["PUBSUB_EMULATOR_HOST"]); host != "pubsub" || port == "" {
		bad("PUBSUB_EMULATOR_HOST is %q, want the pubsub service", env["PUBSUB_EMULATOR_HOST"])
	} else if _, emuPort, _ := net.SplitHostPort(flagValue(emuArgs, "host-port")); emuPort != port {
		bad("PUBSUB_EMULATOR_HOST port %s, but the emulator listens on %q", port, flagValue(emuArgs, "host-port"))
	}
	if p := flagValue(emuArgs, "project"); p == "" || env["TURNSTILE_PROJECT"] != p {
		bad("TURNSTILE_PROJECT is %q, the emulator's project %q", env["TURNSTILE_PROJECT"], p)
	}

	// The DuckDB file is on a volume, not in the container's layer.
	if env["TURNSTILE_WAREHOUSE"] == WarehouseDuckDB || env["TURNSTILE_WAREHOUSE"] == "" {
		db := env["TURNSTILE_DUCKDB_PATH"]
		onVolume := false
		for _, v := range worker.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if _, named := c.Volumes[src]; named && db != "" && strings.HasPrefix(path.Clean(db), path.Clean(dst)+"/") {
				onVolume = true
			}
		}
		if !onVolume {
			bad("TURNSTILE_DUCKDB_PATH %q is not on a named volume of the worker (%v)", db, worker.Volumes)
		}
	}

	// The worker's health port is published, and compose waits longer
	// than the shutdown timeout before it kills the worker.
	addr := orDefault(env["TURNSTILE_HTTP_ADDR"], ":8080")
	_, port, _ := net.SplitHostPort(addr)
	published := false
	for _, p := range worker.Ports {
		if strings.HasSuffix(p, ":"+port) {
			published = true
		}
	}
	if !published {
		bad("worker does not publish its health port %s (ports %v)", port, worker.Ports)
	}
	shutdown, err := time.ParseDuration(orDefault(env["TURNSTILE_SHUTDOWN_TIMEOUT"], "25s"))
	grace, gerr := time.ParseDuration(orDefault(worker.StopGracePeriod, "10s"))
	if err == nil && gerr == nil && grace <= shutdown {
		bad("worker stop_grace_period %s is not longer than TURNSTILE_SHUTDOWN_TIMEOUT %s: compose would kill in-flight partitions", grace, shutdown)
	}
	return problems
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestComposeFile(t *testing.T) {
	c := parseCompose(t, readFile(t, composeFile))
	for _, p := range composeProblems(c) {
		t.Error(p)
	}

	// The values themselves pass config's validation.
	clearEnv(t)
	for k, v := range c.Services["worker"].Environment {
		t.Setenv(k, v)
	}
	if _, err := Load(); err != nil {
		t.Errorf("the worker's environment in %s does not load: %v", composeFile, err)
	}
}

// TestComposeChecksCatch: each check above fails for the mistake it is
// there for.
func TestComposeChecksCatch(t *testing.T) {
	good := string(readFile(t, composeFile))
	cases := []struct {
		name     string
		from, to string
		want     string // in one of the problems
	}{
		{"typo in a variable", "TURNSTILE_DUCKDB_PATH:", "TURNSTILE_DUCKDB_PATHS:", "TURNSTILE_DUCKDB_PATHS, which config does not read"},
		{"worker without setup", "condition: service_completed_successfully", "condition: service_started", "worker depends on setup"},
		{"setup before the emulator answers", "condition: service_healthy", "condition: service_started", "setup depends on pubsub"},
		{"another project", "TURNSTILE_PROJECT: turnstile-local", "TURNSTILE_PROJECT: elsewhere", "TURNSTILE_PROJECT"},
		{"short grace period", "stop_grace_period: 30s", "stop_grace_period: 10s", "stop_grace_period"},
		{"database in the container", "TURNSTILE_DUCKDB_PATH: /data/turnstile.duckdb", "TURNSTILE_DUCKDB_PATH: /tmp/turnstile.duckdb", "not on a named volume"},
		{"worker runs setup", `command: ["serve"]`, `command: ["setup"]`, "worker runs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("%s does not contain %q any more; update this case", composeFile, tc.from)
			}
			c := parseCompose(t, []byte(strings.Replace(good, tc.from, tc.to, 1)))
			problems := composeProblems(c)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one mentioning %q", problems, tc.want)
			}
		})
	}

	// A service of its own for the worker, diverging from setup.
	c := parseCompose(t, []byte(good))
	w := c.Services["worker"]
	w.Image = "turnstile:other"
	w.Environment = map[string]string{"TURNSTILE_PROJECT": "turnstile-local"}
	c.Services["worker"] = w
	problems := strings.Join(composeProblems(c), "\n")
	for _, want := range []string{"setup runs image", "environments differ"} {
		if !strings.Contains(problems, want) {
			t.Errorf("a worker with its own image and environment: problems %q, want one mentioning %q", problems, want)
		}
	}
}

// stage is one FROM ... section of a Dockerfile: its instructions, with
// continuation lines joined.
type stage struct {
	from         string
	instructions []string
}

func dockerfileStages(text string) []stage {
	var (
		stages []stage
		line   strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if line.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			line.WriteString(cont + " ")
			continue
		}
		line.WriteString(l)
		ins := line.String()
		line.Reset()
		if strings.EqualFold(firstWord(ins), "FROM") {
			stages = append(stages, stage{from: ins})
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, ins)
		}
	}
	return stages
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// dockerfileProblems checks that the image builds with the module's Go
// version and runs turnstile serve as a non-root user.
func dockerfileProblems(text, goVersion string) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	stages := dockerfileStages(text)
	if len(stages) < 2 {
		return []string{fmt.Sprintf("%d stages, want a build stage and a run stage", len(stages))}
	}
	if build := stages[0].from; !strings.Contains(build, "golang:"+goVersion) {
		bad("build stage %q does not use Go %s, the version of go.mod", build, goVersion)
	}
	final := stages[len(stages)-1]
	last := map[string]string{} // instruction -> its last arguments in the final stage
	for _, ins := range final.instructions {
		w := strings.ToUpper(firstWord(ins))
		last[w] = strings.TrimSpace(strings.TrimPrefix(ins, firstWord(ins)))
	}
	switch user, _, _ := strings.Cut(last["USER"], ":"); user {
	case "", "root", "0":
		bad("final stage runs as %q, want a non-root USER", orDefault(last["USER"], "root (no USER)"))
	}
	if got := last["ENTRYPOINT"]; got != `["turnstile"]` {
		bad(`final stage ENTRYPOINT is %q, want ["turnstile"]`, got)
	}
	if got := last["CMD"]; got != `["serve"]` {
		bad(`final stage CMD is %q, want ["serve"]`, got)
	}
	if got := last["EXPOSE"]; got != "8080" {
		bad("final stage EXPOSE is %q, want 8080 (the default TURNSTILE_HTTP_ADDR)", got)
	}
	copied := false
	for _, ins := range final.instructions {
		if f := strings.Fields(ins); len(f) > 0 && strings.EqualFold(f[0], "COPY") && f[len(f)-1] == "/usr/local/bin/turnstile" {
			copied = true
		}
	}
	if !copied {
		bad("final stage does not COPY the binary to /usr/local/bin/turnstile, on the image's PATH")
	}
	return problems
}

// goMinor is the major.minor Go version of go.mod's go line.
func goMinor(tb testing.TB) string {
	tb.Helper()
	for line := range strings.Lines(string(readFile(tb, goModFile))) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			parts := strings.SplitN(v, ".", 3)
			if len(parts) >= 2 {
				return parts[0] + "." + parts[1]
			}
		}
	}
	tb.Fatalf("no go line in %s", goModFile)
	return ""
}

func TestDockerfile(t *testing.T) {
	for _, p := range dockerfileProblems(string(readFile(t, dockerfileFile)), goMinor(t)) {
		t.Error(p)
	}
}

func TestDockerfileChecksCatch(t *testing.T) {
	good := string(readFile(t, dockerfileFile))
	cases := []struct {
		name     string
		from, to string
		want     string
	}{
		{"runs as root", "USER 65532:65532", "USER root", "non-root USER"},
		{"no user", "USER 65532:65532", "", "non-root USER"},
		{"no entrypoint", `ENTRYPOINT ["turnstile"]`, "", "ENTRYPOINT"},
		{"shell entrypoint", `ENTRYPOINT ["turnstile"]`, "ENTRYPOINT turnstile", "ENTRYPOINT"},
		{"other Go", "golang:1.26-bookworm", "golang:1.22-bookworm", "does not use Go"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("%s does not contain %q any more; update this case", dockerfileFile, tc.from)
			}
			problems := dockerfileProblems(strings.Replace(good, tc.from, tc.to, 1), goMinor(t))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one mentioning %q", problems, tc.want)
			}
		})
	}
}
