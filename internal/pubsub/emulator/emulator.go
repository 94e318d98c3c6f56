// Package emulator runs the gcloud Pub/Sub emulator for tests.
//
// One emulator serves a whole test binary, since it takes seconds to start:
// the first Start starts it, later calls share it, and Main stops it when
// the tests are done. Tests share its project, so each uses its own topic
// and subscription ids (see ID).
//
//	func TestMain(m *testing.M) { emulator.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		emu := emulator.Start(t)
//		client := emu.NewClient(t)
//		...
//	}
//
// Without gcloud (or without its pubsub-emulator component) Start skips the
// test and says how to enable it, unless TURNSTILE_REQUIRE_EMULATOR=1, in
// which case it fails the test.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Project is the project id the emulator serves.
const Project = "test-project"

// RequireEnv names the variable that, set to 1, turns a missing emulator
// into a test failure instead of a skip.
const RequireEnv = "TURNSTILE_REQUIRE_EMULATOR"

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// Emulator is a running gcloud Pub/Sub emulator.
type Emulator struct {
	// Host is "127.0.0.1:port", the value for PUBSUB_EMULATOR_HOST.
	Host    string
	Project string

	cmd     *exec.Cmd     // gcloud, leader of the emulator's process group
	exited  chan struct{} // closed when gcloud exits
	watch   *exec.Cmd     // the watchdog
	watchIn io.WriteCloser
	dataDir string
	logPath string
}

var shared struct {
	once    sync.Once
	emu     *Emulator
	err     error
	skipped bool // err says why the emulator is unavailable, not broken
}

// Start returns the test binary's emulator, starting it on first use
// (bounded by 60 seconds). It skips or fails tb when the emulator is not
// available; see the package documentation. It is safe for concurrent use.
func Start(tb testing.TB) *Emulator {
	tb.Helper()
	shared.once.Do(func() {
		shared.emu, shared.skipped, shared.err = start()
	})
	switch {
	case shared.err == nil:
		return shared.emu
	case shared.skipped && os.Getenv(RequireEnv) != "1":
		tb.Skipf("Pub/Sub emulator not available, skipping: %v\n"+
			"To run this test install the Google Cloud SDK with its Pub/Sub emulator and Java 17+ "+
			"(`gcloud components install pubsub-emulator` or the google-cloud-cli-pubsub-emulator package); "+
			"set %s=1 to make this a failure.", shared.err, RequireEnv)
	default:
		tb.Fatalf("Pub/Sub emulator: %v", shared.err)
	}
	return nil
}

// Main runs the tests of m, stops the emulator if one was started, and
// exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.emu != nil {
		if err := shared.emu.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop Pub/Sub emulator: %v\n", err)
		}
	}
	os.Exit(code)
}

// NewClient returns a client of the emulator for Project, closed when tb
// ends.
func (e *Emulator) NewClient(tb testing.TB) *pubsub.Client {
	tb.Helper()
	c, err := e.newClient(context.Background())
	if err != nil {
		tb.Fatalf("pubsub client for emulator %s: %v", e.Host, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// ClientOptions are the options that connect a client to the emulator.
func (e *Emulator) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(e.Host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithTelemetryDisabled(),
	}
}

func (e *Emulator) newClient(ctx context.Context) (*pubsub.Client, error) {
	return pubsub.NewClient(ctx, e.Project, e.ClientOptions()...)
}

var (
	idSeq   atomic.Int64
	invalid = regexp.MustCompile(`[^A-Za-z0-9-]+`)
)

// ID returns a topic or subscription id unique in the test binary, built
// from prefix and the test's name, for tests that share the emulator.
func ID(tb testing.TB, prefix string) string {
	name := invalid.ReplaceAllString(tb.Name(), "-")
	if len(name) > 150 {
		name = name[:150]
	}
	return fmt.Sprintf("%s-%s-%d", prefix, name, idSeq.Add(1))
}

// watchdog kills the emulator's process group ($1) and removes its data
// directory ($2) and log ($3) once its standard input, a pipe from the test
// binary, closes: that happens when the binary exits, however it exits.
const watchdog = `cat >/dev/null; kill -KILL -"$1"; sleep 1; rm -rf "$2" "$3"`

// start starts the emulator and waits until it answers. skipped reports
// that it is not installed rather than broken.
func start() (emu *Emulator, skipped bool, err error) {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return nil, true, fmt.Errorf("gcloud not found on PATH: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	dataDir, err := os.MkdirTemp("", "turnstile-pubsub-emulator-")
	if err != nil {
		return nil, false, fmt.Errorf("create emulator data dir: %w", err)
	}
	logFile, err := os.CreateTemp("", "turnstile-pubsub-emulator-*.log")
	if err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, false, fmt.Errorf("create emulator log: %w", err)
	}
	defer logFile.Close()

	e := &Emulator{
		Host:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Project: Project,
		exited:  make(chan struct{}),
		dataDir: dataDir,
		logPath: logFile.Name(),
	}
	// gcloud moves itself into a process group of its own unless it leads
	// its session; as a session leader it keeps the group, which then holds
	// gcloud and the emulator's JVM.
	e.cmd = exec.Command(gcloud, "beta", "emulators", "pubsub", "start",
		"--host-port="+e.Host, "--project="+e.Project, "--data-dir="+dataDir)
	e.cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
	e.cmd.Stdout = logFile // files, not pipes: Wait must not wait for the emulator's output
	e.cmd.Stderr = logFile
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := e.cmd.Start(); err != nil {
		e.cleanFiles()
		return nil, false, fmt.Errorf("start %s: %w", gcloud, err)
	}
	go func() {
		_ = e.cmd.Wait()
		close(e.exited)
	}()

	e.watch = exec.Command("sh", "-c", watchdog, "sh", strconv.Itoa(e.cmd.Process.Pid), dataDir, e.logPath)
	e.watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The write end stays open, unused, until this process exits.
	if e.watchIn, err = e.watch.StdinPipe(); err == nil {
		err = e.watch.Start()
	}
	if err != nil {
		_ = e.stop()
		return nil, false, fmt.Errorf("start emulator watchdog: %w", err)
	}

	if err := e.waitReady(); err != nil {
		tail := e.logTail()
		_ = e.stop()
		return nil, !componentInstalled(gcloud), fmt.Errorf("%w\nemulator output:\n%s", err, tail)
	}
	return e, false, nil
}

// waitReady polls the emulator with ListTopics until it answers.
func (e *Emulator) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := e.newClient(ctx)
	if err != nil {
		return fmt.Errorf("pubsub client for emulator %s: %w", e.Host, err)
	}
	defer c.Close()
	var last error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		it := c.TopicAdminClient.ListTopics(callCtx, &pubsubpb.ListTopicsRequest{Project: "projects/" + e.Project})
		_, err := it.Next()
		callCancel()
		if err == nil || errors.Is(err, iterator.Done) {
			return nil
		}
		last = err
		select {
		case <-e.exited:
			return fmt.Errorf("emulator exited before answering on %s", e.Host)
		case <-ctx.Done():
			return fmt.Errorf("emulator did not answer on %s within %s: %v", e.Host, startTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop terminates the watchdog, then the emulator's process group:
// SIGTERM, then SIGKILL for what is left after 10 seconds.
func (e *Emulator) stop() error {
	defer e.cleanFiles()
	if e.watch != nil && e.watch.Process != nil {
		_ = e.watch.Process.Kill()
		_ = e.watch.Wait()
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			<-e.exited
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill emulator process group %d: %w", pgid, err)
	}
	<-e.exited
	return nil
}

func (e *Emulator) cleanFiles() {
	_ = os.RemoveAll(e.dataDir)
	_ = os.Remove(e.logPath)
}

func (e *Emulator) logTail() string {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// componentInstalled reports whether the SDK that gcloud belongs to has the
// pubsub-emulator component.
func componentInstalled(gcloud string) bool {
	real, err := filepath.EvalSymlinks(gcloud)
	if err != nil {
		return true // cannot tell: treat a failure to start as a failure
	}
	_, err = os.Stat(filepath.Join(filepath.Dir(filepath.Dir(real)), "platform", "pubsub-emulator"))
	return err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
