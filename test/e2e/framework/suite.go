package framework

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// controllerStopGrace is how long a shared controller gets to exit after SIGTERM.
const controllerStopGrace = 30 * time.Second

// Suite is what the TestMain of an end-to-end package sets up once for all its tests, and where
// it puts it: RunTestMain fills each pointer that is not nil.
//
//	var (
//		cp   *controlplane.ControlPlane
//		env  *framework.Env
//		ctrl *framework.Controller
//	)
//
//	var suite = &framework.Suite{Name: "grants", OrgID: orgID, CP: &cp, Env: &env, Controller: &ctrl}
//
//	func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }
type Suite struct {
	// Name names the work folder (e2e-<Name>-…).
	Name string
	// OrgID is the organization Env.NewToken registers tokens for ("": UserGuideOrgID).
	OrgID string
	// ControlPlane says how to start the shared control plane (ControllerManager for namespace
	// deletion and garbage collection).
	ControlPlane controlplane.Options
	// Unthrottled lifts the client-side rate limit of Kube and Client, for tests that create
	// many objects at once.
	Unthrottled bool

	// CP receives the control plane, with the repository's CRDs installed.
	CP **controlplane.ControlPlane
	// Env receives the work folder, the fake Konnect in it and the tokens the tests issue.
	Env **Env
	// Kube and Client receive admin clients of the control plane.
	Kube   *kubernetes.Interface
	Client *clientset.Interface

	// Setup, if set, runs once everything above is in place and before the shared controller
	// starts (namespaces, CRDs or binaries the tests need); an error fails the run.
	Setup func() error

	// Controller, if not nil, receives a controller started for all the tests, with the fake
	// Konnect's environment and ControllerEnv, the flags ControllerArgs, and its output in
	// controller.log in the work folder. After the tests it is stopped, and its whole log must
	// hold none of the tokens Env issued; if it does, the work folder is kept.
	Controller     **Controller
	ControllerArgs []string
	ControllerEnv  []string

	cp         *controlplane.ControlPlane
	env        *Env
	controller ControllerOptions
}

// RunTestMain is the body of the package's TestMain: it starts the control plane, sets up what
// s asks for, runs the tests, tears it all down and returns the exit code for os.Exit.
func (s *Suite) RunTestMain(m *testing.M) int {
	return controlplane.RunTestMainWithOptions(m, &s.cp, s.ControlPlane, s.setup, s.teardown)
}

func (s *Suite) setup() error {
	if s.CP != nil {
		*s.CP = s.cp
	}
	orgID := s.OrgID
	if orgID == "" {
		orgID = UserGuideOrgID
	}
	var err error
	s.env, err = newEnv("e2e-"+s.Name+"-", orgID)
	if s.Env != nil {
		*s.Env = s.env
	}
	if err != nil {
		return err
	}
	cfg := s.cp.RESTConfig()
	if s.Unthrottled {
		cfg.QPS = -1
	}
	kube, client, err := Clients(cfg)
	if err != nil {
		return err
	}
	if s.Kube != nil {
		*s.Kube = kube
	}
	if s.Client != nil {
		*s.Client = client
	}
	if s.Setup != nil {
		if err := s.Setup(); err != nil {
			return err
		}
	}
	if s.Controller == nil {
		return nil
	}
	s.controller = ControllerOptions{
		Kubeconfig: s.cp.KubeconfigPath(),
		Env:        append(s.env.Konnect.Env(), s.ControllerEnv...),
		Args:       s.ControllerArgs,
		LogPath:    filepath.Join(s.env.WorkDir, "controller.log"),
	}
	return s.StartController()
}

// StartController starts the shared controller again, as RunTestMain started it (same flags,
// same log, appended to), for a test that stopped it.
func (s *Suite) StartController() error {
	c, err := StartController(s.controller)
	if err == nil {
		*s.Controller = c
	}
	return err
}

func (s *Suite) teardown() error {
	var errs []string
	if s.Controller != nil && *s.Controller != nil {
		ctrl := *s.Controller
		if err := ctrl.Stop(controllerStopGrace); err != nil {
			errs = append(errs, fmt.Sprintf("controller: %v", err))
		}
		if found := ContainsAny([]byte(ctrl.Log()), s.env.IssuedTokens()...); len(found) > 0 {
			errs = append(errs, fmt.Sprintf("the controller's log contains tokens: %v", found))
		}
	}
	keep := len(errs) > 0
	if err := s.env.teardown(keep); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil
	}
	if keep {
		errs = append(errs, "log kept in "+s.env.WorkDir)
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
