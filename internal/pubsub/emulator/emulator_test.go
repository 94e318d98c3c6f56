package emulator

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartServesOneEmulator(t *testing.T) {
	emu := Start(t)
	if again := Start(t); again != emu {
		t.Errorf("second Start returned another emulator (%s, first %s)", again.Host, emu.Host)
	}
	client := emu.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := "projects/" + Project + "/topics/" + ID(t, "topic")
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	got, err := client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
	if err != nil {
		t.Fatalf("GetTopic: %v", err)
	}
	if got.Name != name {
		t.Errorf("GetTopic name = %q, want %q", got.Name, name)
	}
}

func TestIDIsUniqueAndValid(t *testing.T) {
	t.Parallel()
	a, b := ID(t, "sub"), ID(t, "sub")
	if a == b {
		t.Errorf("ID returned %q twice", a)
	}
	for _, id := range []string{a, b} {
		if !strings.HasPrefix(id, "sub-TestIDIsUniqueAndValid-") || strings.ContainsAny(id, "/ ") {
			t.Errorf("ID = %q, want sub-<test name>-<n> without slashes or spaces", id)
		}
	}
}

const childEnv = "TURNSTILE_EMULATOR_TEST_CHILD"

// TestEmulatorDiesWithTestBinary runs this test binary as a child that
// starts an emulator and exits without stopping it, as a crashed or killed
// test binary would, and checks that the emulator goes away.
func TestEmulatorDiesWithTestBinary(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		emu := Start(t)
		os.Stdout.WriteString("HOST " + emu.Host + "\n")
		os.Exit(0) // no Main, no cleanup
	}
	if _, err := exec.LookPath("gcloud"); err != nil {
		Start(t) // skips or fails with the usual message
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmulatorDiesWithTestBinary$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var host string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "HOST "); ok {
			host = h
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child test binary: %v", err)
	}
	if host == "" {
		t.Fatal("child test binary did not start an emulator")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			return // gone
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("emulator at %s still answers 15s after its test binary exited", host)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
