package launch

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Names in an instance directory, as engine.InstanceFiles lays it out.
const (
	instancesDir = "instances"
	specDirName  = "spec"
	qmpName      = "qmp.sock"
	pidName      = "qemu.pid"
)

// Files of the spec share (worker interface §2.3).
const (
	shareTONConfig = "global.config.json"
	templateDir    = "spec/spec-worker"
	secretMode     = "0600"
)

// instance plans the k-th chosen GPU's worker.
func (p *planner) instance(k int, g hostGPU) error {
	base := 0
	if p.conf != nil {
		base = p.conf.Instance
	}
	n := base + k
	dir := filepath.Join(p.cfg.DataDir, instancesDir, strconv.Itoa(n))
	in := Instance{Number: n, GPU: g.bus, GPUName: g.name, StatsPort: vm.StatsPort(n), SSHPort: vm.SSHPort(n), CID: vm.GuestCID(n),
		Dir: dir, SpecDir: filepath.Join(dir, specDirName), PersistentDisk: filepath.Join(dir, vm.PersistentDiskName(n))}
	if p.conf != nil && k == 0 && p.conf.Persistent != filepath.Join(filepath.Dir(p.confPath), vm.PersistentDiskName(p.conf.Instance)) {
		in.PersistentDisk = p.conf.Persistent // worker.conf's persistent key, set explicitly
	}
	p.plan.Instances = append(p.plan.Instances, in)
	num := func(s Step) Step { s.Instance = &n; return s }

	if err := p.ccStep(num, in); err != nil {
		return err
	}
	if err := p.bindStep(num, in); err != nil {
		return err
	}
	p.add(num(p.specStep(k, in)))
	p.add(num(p.diskStep(in)))
	model, modelStep := p.modelStep()
	p.add(num(modelStep))
	p.add(num(p.qemuStep(in, model)))
	return nil
}

// ccStep: confidential-computing mode on, as setup-gpu-vfio does before
// binding (§4).
func (p *planner) ccStep(num func(Step) Step, in Instance) error {
	s := Step{Kind: KindCCMode, Title: "GPU helper: set-cc-mode " + in.GPU + " on"}
	mode := p.h.CCMode(p.ctx, in.GPU)
	if mode == helper.ModeOn {
		s.Details = []string{"CC mode is on already: nothing to do"}
		p.add(num(s))
		return nil
	}
	req := helper.Request{Op: helper.OpSetCCMode, PCI: in.GPU, Mode: helper.ModeOn}
	plan, err := helper.NewPlan(p.ctx, p.fsys, p.h.CCTool(), req)
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if mode == "" {
		s.Details = append(s.Details, "the CC mode cannot be read here without root; the helper reads it first (status) and switches only if it is not on")
	} else {
		s.Details = append(s.Details, "CC mode is "+mode)
	}
	if err != nil {
		s.Blocked = append(s.Blocked, err.Error())
	} else {
		s.Details = append(s.Details, plan.Describe()...)
		s.Helper = &req
	}
	p.add(num(s))
	return nil
}

func (p *planner) bindStep(num func(Step) Step, in Instance) error {
	s := Step{Kind: KindBindVFIO, Title: "GPU helper: bind-vfio " + in.GPU}
	req := helper.Request{Op: helper.OpBindVFIO, PCI: in.GPU}
	plan, err := helper.NewPlan(p.ctx, p.fsys, p.h.CCTool(), req)
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if err != nil {
		s.Blocked = append(s.Blocked, err.Error())
	} else {
		s.Details = plan.Describe()
		if len(plan.Steps) > 0 {
			s.Helper = &req
		}
	}
	p.add(num(s))
	return nil
}

// specStep: the 9p share, template + measured TON config base + runtime
// part (§2.3, §2.4); with fake TON the template rewritten, the fake root
// config added and no TON config (§3.3).
func (p *planner) specStep(k int, in Instance) Step {
	s := Step{Kind: KindSpecShare, Title: "Write the spec share " + in.SpecDir + " (built next to it, renamed into place)"}
	s.Blocked = append(s.Blocked, p.failed("data_dir")...)
	var ft *fakeTON
	if p.rel == nil {
		s.Blocked = append(s.Blocked, "no worker release to take the spec template from")
	} else {
		tmpl := path.Join(p.relRoot, templateDir)
		if p.fakeTON {
			o, blocked := p.fakeTONOverlay(tmpl)
			ft = &o
			s.Blocked = append(s.Blocked, blocked...)
		}
		err := fs.WalkDir(p.fsys, rel(tmpl), func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode, from := "0644", "/"+name
			if info.Mode().Perm()&0o100 != 0 {
				mode = "0755"
			}
			inner := strings.TrimPrefix(from, tmpl+"/")
			if inner == worker.RuntimeVarsFile {
				return fmt.Errorf("the template holds %s, which must be generated", inner)
			}
			f := File{Path: path.Join(in.SpecDir, inner), Mode: mode, From: from, Note: "template, measured"}
			if e, ok := ft.edit(inner); ok {
				f.Note = "template, rewritten for fake TON (" + strings.TrimPrefix(e.Summary(), e.File+": ") + "), measured"
				f.Changes = e.Diff()
				f.content = &fileContent{data: ft.rewrite.Files[inner]}
			}
			s.Files = append(s.Files, f)
			return nil
		})
		if err != nil {
			s.Blocked = append(s.Blocked, "the release's spec template "+tmpl+" cannot be used: "+err.Error())
		}
		if ft != nil {
			s.Files = append(s.Files, File{Path: path.Join(in.SpecDir, worker.FakeTONConfigFile), Mode: "0644", From: ft.config, Note: "fake-TON overlay, measured"})
		}
	}
	if p.conf == nil {
		s.Blocked = append(s.Blocked, "no usable worker.conf")
		return s
	}
	if p.fakeTON {
		s.Details = append(s.Details, "no TON config is copied (neither ton_config_base nor ton_config): with fake TON the guest does not reach TON")
	} else {
		s.Files = append(s.Files, File{Path: path.Join(in.SpecDir, shareTONConfig), Mode: "0644", From: p.conf.TONConfigBase, Note: "ton_config_base, measured"})
		if _, err := p.stat(p.conf.TONConfigBase); err != nil && p.rel != nil {
			s.Blocked = append(s.Blocked, "ton_config_base "+p.conf.TONConfigBase+" is missing")
		}
		s.Files = append(s.Files, File{Path: path.Join(in.SpecDir, worker.RuntimeDir, shareTONConfig), Mode: secretMode, From: p.conf.TONConfig, Note: "ton_config, runtime (liteservers)"})
		if _, err := p.stat(p.conf.TONConfig); err != nil {
			s.Blocked = append(s.Blocked, "ton_config "+p.conf.TONConfig+" is missing: write it, or make one with `cocoon-provider liteservers --out`")
		}
	}
	c := *p.conf
	c.Instance = in.Number
	if k > 0 {
		if k-1 < len(p.cfg.NodeWalletKeys) && !p.cfg.NodeWalletKeys[k-1].IsZero() {
			c.NodeWalletKey = p.cfg.NodeWalletKeys[k-1]
		} else {
			s.Blocked = append(s.Blocked, fmt.Sprintf("instance %d needs a node wallet key of its own: with worker.conf's key it would share instance %d's cocoon wallet (one wallet, one seqno, per worker); give one a line for instances after the first with --node-wallet-keys FILE", in.Number, c.Instance-k))
		}
	}
	if p.fakeTON && c.NodeWalletKey.IsZero() {
		s.Blocked = append(s.Blocked, "worker.conf sets no node_wallet_key: with fake TON the official launcher puts in a fixed test key, which this app does not have; set one")
	}
	vars, err := c.RuntimeVars()
	if err != nil {
		s.Blocked = append(s.Blocked, err.Error())
	} else {
		note := "generated, runtime"
		if ft != nil && ft.vars != nil {
			// The overlay's runtime.vars is the file the launcher's own
			// keys are merged into (§2.4).
			vars = ft.vars.Merge(vars)
			note = "generated, runtime; the contract codes from " + path.Join(p.relRoot, worker.FakeTONDir, "runtime.vars")
		}
		f := File{Path: path.Join(in.SpecDir, worker.RuntimeVarsFile), Mode: secretMode, Note: note}
		if data, err := vars.Bytes(); err == nil {
			f.content = &fileContent{data: data}
		} else {
			s.Blocked = append(s.Blocked, err.Error())
		}
		for _, key := range vars.Keys() {
			v, _ := vars.Get(key)
			if worker.IsSecretKey(key) {
				v = "[redacted]"
			}
			f.Lines = append(f.Lines, key+"="+shownValue(v))
		}
		if !c.Model.Complete() {
			f.Lines = append(f.Lines, "MODEL_COMMIT and MODEL_VERITY_HASH: from the model build")
		}
		s.Files = append(s.Files, f)
	}
	return s
}

func (p *planner) diskStep(in Instance) Step {
	s := Step{Kind: KindPersistentDisk}
	info, err := p.stat(in.PersistentDisk)
	switch {
	case err == nil && !info.Mode().IsRegular():
		s.Title = "Persistent disk " + in.PersistentDisk
		s.Blocked = []string{in.PersistentDisk + " exists and is not a regular file"}
		return s
	case err == nil:
		s.Title = "Keep the persistent disk " + in.PersistentDisk
		s.Details = []string{fmt.Sprintf("it exists (%d GiB); the guest opens it with a key sealed to this release's measurements, so a disk made under another image cannot be opened and must be recreated", info.Size()>>30)}
	default:
		s.Title = "Create the persistent disk " + in.PersistentDisk
		s.Files = []File{{Path: in.PersistentDisk, Mode: "0600", Size: PersistentDiskSize, Sparse: true, Note: "raw; the guest formats it with LUKS on first boot"}}
		s.Details = []string{"sparse: no data is written; it grows as the guest uses it"}
		s.Blocked = append(s.Blocked, p.failed("data_dir", "disk")...)
	}
	switch {
	case p.test:
		s.Details = append(s.Details, "test mode: the guest encrypts it with a constant debug key, not a sealed one, and cannot open a disk a production launch made; keep a separate persistent file for debugging")
	case p.fakeTON:
		s.Details = append(s.Details, "fake TON: the disk key is sealed to this launch's measurements, which are not production's, so a disk a production launch made cannot be opened; keep a separate persistent file for debugging")
	}
	return s
}

// modelPathRE is every character build-model replaces with '_' (§2.8).
var modelPathRE = regexp.MustCompile(`[^A-Za-z0-9]`)

// modelStep: the model archive and its verity tree, attached read-only
// (§2.8, §3.1 items 13–14). It returns the archive's path.
func (p *planner) modelStep() (string, Step) {
	s := Step{Kind: KindModelDisk, Title: "Attach the model disk"}
	if p.conf == nil {
		s.Blocked = []string{"no usable worker.conf names the model"}
		return "", s
	}
	m := p.conf.Model
	tar := path.Join(p.relRoot, "images", modelPathRE.ReplaceAllString(m.Name, "_")+".tar")
	s.Title = "Attach the model disk " + tar + " (+ .verity), read-only"
	s.Details = []string{"model " + m.String()}
	if !m.Complete() {
		s.Blocked = append(s.Blocked, "the model's commit and verity hash are not known: the official build-model resolves and builds them, which this build does not do; give model = name@commit:hash of an archive built with it")
	}
	if p.rel == nil {
		s.Blocked = append(s.Blocked, "no worker release holds the model archive")
		return tar, s
	}
	for _, f := range []string{tar, tar + ".verity"} {
		if _, err := p.stat(f); err != nil {
			s.Blocked = append(s.Blocked, f+" is missing: build the model with the release's scripts/build-model")
		}
	}
	if b, err := p.readFile(tar + ".hash"); err == nil && m.VerityHash != "" && !strings.EqualFold(strings.TrimSpace(string(b)), m.VerityHash) {
		s.Blocked = append(s.Blocked, tar+".hash does not match the verity hash worker.conf names: rebuild the model or fix the model line")
	}
	return tar, s
}

func (p *planner) qemuStep(in Instance, model string) Step {
	s := Step{Kind: KindQEMU, Title: fmt.Sprintf("Start the worker VM (instance %d)", in.Number)}
	imageDir := p.imageDir
	if imageDir == "" {
		imageDir = path.Join(p.relRoot, "images", "prod")
	}
	spec := vm.Spec{
		Instance: in.Number, Accel: vm.AccelTDX, Binary: p.cfg.QEMU,
		Firmware: path.Join(imageDir, "OVMF.fd"), Kernel: path.Join(imageDir, "image.vmlinuz"), Initrd: path.Join(imageDir, "image.initrd"),
		RootImage: path.Join(imageDir, "image.img"), PersistentDisk: in.PersistentDisk, SpecDir: in.SpecDir,
		GPU: in.GPU, Vsock: true, QMPSocket: filepath.Join(in.Dir, qmpName), PidFile: filepath.Join(in.Dir, pidName),
		Cmdline: "<image.cmdline>",
	}
	if p.conf != nil {
		spec.Test, spec.FakeTON = p.conf.Test, p.conf.FakeTON
		if p.conf.Model.Complete() {
			spec.ModelTar = model
		}
	}
	noTestImages := false
	if p.rel != nil && p.test && imageDir == path.Join(p.relRoot, "images", "test") {
		if _, err := p.stat(imageDir); err != nil {
			noTestImages = true
			s.Blocked = append(s.Blocked, imageDir+" does not exist: this release ships no test images (a release holds images/prod or images/test); "+
				"build them with the Cocoon repository's scripts/build-image and name their directory with image-dir in worker.conf")
		}
	}
	if p.rel != nil && !noTestImages {
		cl := path.Join(imageDir, "image.cmdline")
		if b, err := p.readFile(cl); err == nil {
			spec.Cmdline = string(b)
		} else {
			s.Blocked = append(s.Blocked, cl+" cannot be read: "+err.Error())
		}
		for _, f := range []string{spec.Firmware, spec.Kernel, spec.Initrd, spec.RootImage} {
			if _, err := p.stat(f); err != nil {
				s.Blocked = append(s.Blocked, f+" is missing from the release: fetch it again")
			}
		}
	}
	exe, args, err := spec.Command()
	if err != nil {
		s.Blocked = append(s.Blocked, err.Error())
	} else {
		s.Argv = append([]string{exe}, args...)
	}
	s.Details = []string{
		fmt.Sprintf("stats http://<host>:%d/stats, ssh port %d, vsock CID %d; its console (QEMU's stdout) goes to the app's log", in.StatsPort, in.SSHPort, in.CID),
		"this worker registers its own worker contract with each proxy it serves",
	}
	if p.plan.Mode != ModeProduction {
		extras := []string{"cocoon_gpu"}
		if spec.FakeTON {
			extras = append([]string{"cocoon_fake_ton"}, extras...)
		}
		if spec.Test {
			extras = append([]string{"cocoon_debug"}, extras...)
		}
		s.Details = append(s.Details, "kernel command line: image.cmdline + "+strings.Join(extras, " ")+" ("+p.plan.Mode.String()+"); it is measured, so the image hash is not the production one")
	}
	s.Blocked = append(s.Blocked, p.failed("cpu", "kernel", "kvm_device", "kvm_guest", "tdx", "memory", "iommu", "iommufd", "vhost_vsock", "qemu", "qemu_tdx")...)
	s.Blocked = slices.Compact(s.Blocked)
	return s
}
