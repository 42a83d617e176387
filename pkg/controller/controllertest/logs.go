package controllertest

import (
	"bytes"
	"context"
	"flag"
	"strconv"
	"sync"
	"testing"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
)

// Logs is what was logged while a test ran: through the contextual logger of the context
// CaptureLogs returned, and through klog's global logger.
type Logs struct {
	logger klog.Logger
	global syncedBuffer
}

// CaptureLogs returns a context whose logger keeps what is logged at verbosity v, and has
// klog's global logger log at verbosity v into Logs until the test ends.
func CaptureLogs(t testing.TB, v int) (context.Context, *Logs) {
	t.Helper()
	l := &Logs{}
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	for name, value := range map[string]string{"v": strconv.Itoa(v), "logtostderr": "false", "alsologtostderr": "false"} {
		if err := flags.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	klog.SetOutput(&l.global)
	t.Cleanup(func() {
		klog.SetOutput(nil)
		_ = flags.Set("v", "0")
		_ = flags.Set("logtostderr", "true")
	})
	l.logger = ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(v), ktesting.BufferLogs(true)))
	return klog.NewContext(context.Background(), l.logger), l
}

// Contextual is what the context's logger logged.
func (l *Logs) Contextual() string {
	klog.Flush()
	return l.logger.GetSink().(ktesting.Underlier).GetBuffer().String()
}

// Global is what klog's global logger logged.
func (l *Logs) Global() string {
	klog.Flush()
	return l.global.String()
}

// syncedBuffer is a bytes.Buffer safe for klog's writer goroutine.
type syncedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
