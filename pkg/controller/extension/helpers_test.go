package extension

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
)

func klogContext(ctx context.Context, logger logr.Logger) context.Context {
	return klog.NewContext(ctx, logger)
}

// fmtAction prints a recorded API action with its patch or object.
func fmtAction(a clienttesting.Action) string {
	switch a := a.(type) {
	case clienttesting.PatchAction:
		return a.GetVerb() + " " + string(a.GetPatch())
	case clienttesting.UpdateAction:
		return fmt.Sprintf("%s %+v", a.GetVerb(), a.GetObject())
	case clienttesting.CreateAction:
		return fmt.Sprintf("%s %+v", a.GetVerb(), a.GetObject())
	}
	return a.GetVerb()
}
