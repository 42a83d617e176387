package extension

import (
	"fmt"

	clienttesting "k8s.io/client-go/testing"
)

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
