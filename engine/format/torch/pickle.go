package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// The restricted unpickler. A pickle is a small stack machine whose GLOBAL and REDUCE
// opcodes import and call arbitrary Python code: that is how a malicious checkpoint runs
// os.system. This unpickler runs no code at all. It interprets the opcodes itself and
// knows a short list of globals (the tensor rebuild functions, storage classes, dtypes,
// OrderedDict), each of which it evaluates with its own Go code; any other global is
// refused at the offset where the pickle names it.

// Values on the unpickler's stack.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys, vals []any
		index      map[any]int
	}
	// pyGlobal is an allowed global that has not been called yet.
	pyGlobal struct{ module, name string }
	// storageType is a torch.*Storage class named in a persistent id.
	storageType struct {
		name  string
		dtype ir.DType // ir.Uint8 for UntypedStorage (its numel counts bytes)
	}
	// torchDType is a torch dtype (torch.float16, ...).
	torchDType struct {
		name  string
		dtype ir.DType
	}
	// opaque stands for an allowed value modelc does not interpret (a layout, a device).
	opaque struct{ what string }
	// pyClass is a TorchScript class (__torch__.*) named by a TorchScript archive's
	// pickle: it is only ever instantiated as data (pyObject), never run.
	pyClass struct{ name string }
	// pyObject is an instance of a TorchScript class: its class name and the state BUILD
	// gave it (for a module, a dict of its attributes).
	pyObject struct {
		class string
		state any
	}
	// markObj is never on the stack; marks are kept apart.
)

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, float64, nil:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// storageRef is a storage loaded through a persistent id.
type storageRef struct {
	key   string
	dtype ir.DType
	data  []byte
	size  int64     // in bytes
	entry *zip.File // a deflated entry not inflated yet (then data is nil)
}

// tensorRef is a tensor as a rebuild function describes it: a view of a storage.
type tensorRef struct {
	storage *storageRef
	dtype   ir.DType
	offset  int64 // in elements
	shape   []int64
	stride  []int64
}

// storageTypes maps torch's storage class names to ir dtypes.
var storageTypes = map[string]ir.DType{
	"DoubleStorage": ir.Float64, "FloatStorage": ir.Float32, "HalfStorage": ir.Float16,
	"BFloat16Storage": ir.BFloat16, "LongStorage": ir.Int64, "IntStorage": ir.Int32,
	"ShortStorage": ir.Int16, "CharStorage": ir.Int8, "ByteStorage": ir.Uint8,
	"BoolStorage": ir.Bool, "ComplexFloatStorage": ir.Complex64, "ComplexDoubleStorage": ir.Complex128,
	"UntypedStorage": ir.Uint8,
}

// torchDTypes maps torch dtype names (canonical and aliases) to ir dtypes.
var torchDTypes = map[string]ir.DType{
	"float32": ir.Float32, "float": ir.Float32, "float64": ir.Float64, "double": ir.Float64,
	"float16": ir.Float16, "half": ir.Float16, "bfloat16": ir.BFloat16,
	"int64": ir.Int64, "long": ir.Int64, "int32": ir.Int32, "int": ir.Int32,
	"int16": ir.Int16, "short": ir.Int16, "int8": ir.Int8, "uint8": ir.Uint8, "bool": ir.Bool,
	"uint16": ir.Uint16, "uint32": ir.Uint32, "uint64": ir.Uint64,
	"complex64": ir.Complex64, "cfloat": ir.Complex64, "complex128": ir.Complex128, "cdouble": ir.Complex128,
	"float8_e4m3fn": ir.Float8E4M3FN, "float8_e5m2": ir.Float8E5M2,
	"float8_e4m3fnuz": ir.Float8E4M3FNUZ, "float8_e5m2fnuz": ir.Float8E5M2FNUZ, "float8_e8m0fnu": ir.Float8E8M0,
}

// allowedGlobal returns the value a GLOBAL opcode pushes for module.name, or false if the
// global is not on the allow-list.
func allowedGlobal(module, name string) (any, bool) {
	switch module + "." + name {
	case "collections.OrderedDict", "builtins.dict",
		"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
		"torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
		"torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
		"torch.Size", "torch.device", "_codecs.encode":
		return pyGlobal{module, name}, true
	case "torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.Parameter":
		return pyGlobal{module, name}, true // only as the new_type of _rebuild_from_type_v2
	case "torch.strided", "torch.sparse_coo", "torch.sparse_csr":
		return opaque{"layout " + name}, true
	}
	if module == "torch" || module == "torch.storage" {
		if d, ok := storageTypes[name]; ok {
			return storageType{name, d}, true
		}
	}
	if module == "torch" {
		if d, ok := torchDTypes[name]; ok {
			return torchDType{name, d}, true
		}
	}
	return nil, false
}

// unpickler runs one pickle.
type unpickler struct {
	file  string // for messages: the checkpoint and the pickle inside it
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	// persistentLoad resolves a persistent id (a storage reference) at offset op.
	persistentLoad func(pid any) (any, error)
	// script allows what a TorchScript archive's pickles hold besides a state dict:
	// __torch__.* classes (built as pyObject data, never run) and the list builders of
	// torch.jit._pickle.
	script bool
	// work counts what the pickle makes modelc do beyond reading its bytes once: dict
	// keys hashed, bytes copied, tuples converted. A memo reference costs the pickle
	// two bytes however large the object it repeats, so without this bound a small
	// pickle could make the unpickler copy or hash gigabytes.
	work workBudget
}

// workBudget bounds the work (and memory) a pickle can cause to a fixed multiple of its
// size: a genuine state dict uses a small fraction of it; shared references repeated
// exponentially ("billion laughs") run out of it after a few thousand steps.
type workBudget struct {
	left int64
	size int // the pickle's size, for the message
}

// workPerByte is the work allowed per byte of pickle (plus a fixed 256 Ki units).
const workPerByte = 8

func newWorkBudget(pickleSize int) workBudget {
	return workBudget{left: workPerByte*int64(pickleSize) + 256<<10, size: pickleSize}
}

// errExpansion is wrapped by the error a spent work budget gives.
var errExpansion = errors.New("shared references expand beyond the pickle's size")

// spend takes n units; it fails when the budget is spent.
func (w *workBudget) spend(n int64) error {
	w.left -= n
	if w.left < 0 {
		return fmt.Errorf("%w: a %d-byte pickle whose memo references (the same object used again and again, nested) make it expand to more than %d times its size; a real state dict never does this (a crafted \"billion laughs\" pickle does)", errExpansion, w.size, workPerByte)
	}
	return nil
}

// pickleError is a failure at an offset of the pickle.
type pickleError struct {
	kind ir.ErrorKind
	off  int
	err  error
}

func (e *pickleError) Error() string { return e.err.Error() }

func (u *unpickler) fail(kind ir.ErrorKind, off int, format string, args ...any) error {
	return &pickleError{kind, off, fmt.Errorf(format, args...)}
}

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.fail(ir.KindCorrupt, u.pos, "truncated: %d more bytes needed, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// line reads a text opcode's argument up to its newline. (It must not convert the rest
// of the pickle to a string to search it: that copy per opcode made protocol-0 pickles
// quadratic.)
func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", u.fail(ir.KindCorrupt, u.pos, "truncated: no end of line")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop(op int) (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, u.fail(ir.KindCorrupt, op, "stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top(op int) (any, error) {
	v, err := u.pop(op)
	if err == nil {
		u.push(v)
	}
	return v, err
}

// popMark removes and returns everything above the latest mark.
func (u *unpickler) popMark(op int) ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.fail(ir.KindCorrupt, op, "no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// maxMemo bounds the memo: each entry costs at least one opcode byte, so a real pickle
// never comes near it; a forged index cannot make it allocate.
const maxMemo = 1 << 24

// run executes the pickle and returns the value STOP leaves.
func (u *unpickler) run() (any, error) {
	u.memo = map[uint32]any{}
	u.work = newWorkBudget(len(u.data))
	for {
		op := u.pos
		if op >= len(u.data) {
			return nil, u.fail(ir.KindCorrupt, op, "truncated: the pickle ends without STOP")
		}
		code := u.data[u.pos]
		u.pos++
		var err error
		switch code {
		case 0x80: // PROTO
			var b []byte
			if b, err = u.need(1); err == nil && b[0] > 5 {
				err = u.fail(ir.KindUnsupported, op, "pickle protocol %d is newer than 5", b[0])
			}
		case 0x95: // FRAME: a length prefix for buffering, nothing to do
			_, err = u.need(8)
		case '.': // STOP
			v, err := u.pop(op)
			if err != nil {
				return nil, err
			}
			return v, nil
		case '(':
			u.marks = append(u.marks, len(u.stack))
		case '0': // POP
			_, err = u.pop(op)
		case '1': // POP_MARK
			_, err = u.popMark(op)
		case '2': // DUP
			var v any
			if v, err = u.top(op); err == nil {
				u.push(v)
			}
		case 'N':
			u.push(nil)
		case 0x88:
			u.push(true)
		case 0x89:
			u.push(false)
		case 'K': // BININT1
			var b []byte
			if b, err = u.need(1); err == nil {
				u.push(int64(b[0]))
			}
		case 'M': // BININT2
			var b []byte
			if b, err = u.need(2); err == nil {
				u.push(int64(binary.LittleEndian.Uint16(b)))
			}
		case 'J': // BININT
			var b []byte
			if b, err = u.need(4); err == nil {
				u.push(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case 0x8a, 0x8b: // LONG1, LONG4
			err = u.long(op, code)
		case 'I', 'L': // INT, LONG in text
			var s string
			if s, err = u.line(); err == nil {
				err = u.textInt(op, s)
			}
		case 'G': // BINFLOAT, big-endian
			var b []byte
			if b, err = u.need(8); err == nil {
				u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
			}
		case 'F':
			var s string
			if s, err = u.line(); err == nil {
				var f float64
				if f, err = strconv.ParseFloat(s, 64); err != nil {
					err = u.fail(ir.KindCorrupt, op, "bad FLOAT %q", s)
				} else {
					u.push(f)
				}
			}
		case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e, 0x96:
			err = u.sized(op, code)
		case 'S': // STRING: a Python repr in quotes
			var s string
			if s, err = u.line(); err == nil {
				var v string
				if v, err = pyStringLiteral(s); err != nil {
					err = u.fail(ir.KindCorrupt, op, "bad STRING %q: %v", s, err)
				} else {
					u.push(v)
				}
			}
		case 'V': // UNICODE: raw-unicode-escape text
			var s string
			if s, err = u.line(); err == nil {
				u.push(rawUnicodeEscape(s))
			}
		case ')':
			u.push(pyTuple{})
		case 't':
			var items []any
			if items, err = u.popMark(op); err == nil {
				u.push(pyTuple(items))
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(code - 0x84)
			items := make([]any, n)
			for i := n - 1; i >= 0 && err == nil; i-- {
				items[i], err = u.pop(op)
			}
			u.push(pyTuple(items))
		case ']', 0x8f: // EMPTY_LIST, EMPTY_SET (a set is kept as a list)
			u.push(&pyList{})
		case 'l', 0x91: // LIST, FROZENSET
			var items []any
			if items, err = u.popMark(op); err == nil {
				u.push(&pyList{items: items})
			}
		case 'a': // APPEND
			var v, l any
			if v, err = u.pop(op); err == nil {
				if l, err = u.top(op); err == nil {
					err = u.appendTo(op, l, []any{v})
				}
			}
		case 'e', 0x90: // APPENDS, ADDITEMS
			var items []any
			var l any
			if items, err = u.popMark(op); err == nil {
				if l, err = u.top(op); err == nil {
					err = u.appendTo(op, l, items)
				}
			}
		case '}':
			u.push(newDict())
		case 'd': // DICT
			var items []any
			if items, err = u.popMark(op); err == nil {
				d := newDict()
				err = u.setItems(op, d, items)
				u.push(d)
			}
		case 's': // SETITEM
			var k, v, d any
			if v, err = u.pop(op); err == nil {
				if k, err = u.pop(op); err == nil {
					if d, err = u.top(op); err == nil {
						err = u.setItems(op, d, []any{k, v})
					}
				}
			}
		case 'u': // SETITEMS
			var items []any
			var d any
			if items, err = u.popMark(op); err == nil {
				if d, err = u.top(op); err == nil {
					err = u.setItems(op, d, items)
				}
			}
		case 'c': // GLOBAL "module\nname\n"
			var module, name string
			if module, err = u.line(); err == nil {
				if name, err = u.line(); err == nil {
					err = u.global(op, module, name)
				}
			}
		case 0x93: // STACK_GLOBAL
			var m, n any
			if n, err = u.pop(op); err == nil {
				if m, err = u.pop(op); err == nil {
					ms, ok1 := m.(string)
					ns, ok2 := n.(string)
					if !ok1 || !ok2 {
						err = u.fail(ir.KindCorrupt, op, "STACK_GLOBAL needs two strings")
					} else {
						err = u.global(op, ms, ns)
					}
				}
			}
		case 'R': // REDUCE: callable(*args)
			var args, fn any
			if args, err = u.pop(op); err == nil {
				if fn, err = u.pop(op); err == nil {
					var v any
					if v, err = u.call(op, fn, args); err == nil {
						u.push(v)
					}
				}
			}
		case 0x81: // NEWOBJ: cls.__new__(cls, *args); only OrderedDict is allowed
			var args, cls any
			if args, err = u.pop(op); err == nil {
				if cls, err = u.pop(op); err == nil {
					var v any
					if v, err = u.call(op, cls, args); err == nil {
						u.push(v)
					}
				}
			}
		case 'b': // BUILD: obj.__setstate__(state)
			var state, obj any
			if state, err = u.pop(op); err == nil {
				if obj, err = u.top(op); err == nil {
					err = u.build(op, obj, state)
				}
			}
		case 'Q': // BINPERSID
			var pid any
			if pid, err = u.pop(op); err == nil {
				err = u.persistent(op, pid)
			}
		case 'P': // PERSID (text)
			var s string
			if s, err = u.line(); err == nil {
				err = u.persistent(op, s)
			}
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			err = u.put(op, code)
		case 'p':
			var s string
			if s, err = u.line(); err == nil {
				var i uint64
				if i, err = strconv.ParseUint(s, 10, 32); err != nil {
					err = u.fail(ir.KindCorrupt, op, "bad PUT index %q", s)
				} else {
					err = u.store(op, uint32(i))
				}
			}
		case 'h', 'j', 'g': // BINGET, LONG_BINGET, GET
			err = u.get(op, code)
		default:
			name := opNames[code]
			if name == "" {
				return nil, u.fail(ir.KindCorrupt, op, "unknown pickle opcode 0x%02x", code)
			}
			// INST, OBJ, EXT*, NEWOBJ_EX, PERSID-less tricks: they build arbitrary objects.
			return nil, u.fail(ir.KindUnsupported, op, "pickle opcode %s is not allowed in a state dict", name)
		}
		if err != nil {
			return nil, err
		}
	}
}

var opNames = map[byte]string{'i': "INST", 'o': "OBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x92: "NEWOBJ_EX", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER"}

func (u *unpickler) long(op int, code byte) error {
	var n int
	if code == 0x8a {
		b, err := u.need(1)
		if err != nil {
			return err
		}
		n = int(b[0])
	} else {
		b, err := u.need(4)
		if err != nil {
			return err
		}
		n = int(int32(binary.LittleEndian.Uint32(b)))
	}
	b, err := u.need(n)
	if err != nil {
		return err
	}
	if n > 8 {
		return u.fail(ir.KindUnsupported, op, "integer of %d bytes does not fit 64 bits", n)
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend two's complement
		v |= ^uint64(0) << (8 * n)
	}
	u.push(int64(v))
	return nil
}

func (u *unpickler) textInt(op int, s string) error {
	s = strings.TrimSuffix(s, "L")
	switch s {
	case "00":
		u.push(false)
		return nil
	case "01":
		u.push(true)
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return u.fail(ir.KindCorrupt, op, "bad integer %q", s)
	}
	u.push(v)
	return nil
}

// sized reads the length-prefixed strings and byte strings.
func (u *unpickler) sized(op int, code byte) error {
	var n uint64
	var lenBytes int
	switch code {
	case 0x8c, 'U', 'C':
		lenBytes = 1
	case 'X', 'T', 'B':
		lenBytes = 4
	default:
		lenBytes = 8
	}
	b, err := u.need(lenBytes)
	if err != nil {
		return err
	}
	for i := lenBytes - 1; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	if code == 'T' && int32(n) < 0 {
		return u.fail(ir.KindCorrupt, op, "negative string length")
	}
	if n > uint64(len(u.data)-u.pos) {
		return u.fail(ir.KindCorrupt, op, "string of %d bytes runs past the end of the pickle", n)
	}
	s, _ := u.need(int(n))
	switch code {
	case 'X', 0x8c, 0x8d, 'T', 'U':
		u.push(string(s))
	default:
		u.push(append([]byte(nil), s...))
	}
	return nil
}

func (u *unpickler) appendTo(op int, l any, items []any) error {
	list, ok := l.(*pyList)
	if !ok {
		return u.fail(ir.KindCorrupt, op, "APPEND to a %s", typeName(l))
	}
	list.items = append(list.items, items...)
	return nil
}

func (u *unpickler) setItems(op int, d any, items []any) error {
	dict, ok := d.(*pyDict)
	if !ok {
		return u.fail(ir.KindCorrupt, op, "SETITEM on a %s", typeName(d))
	}
	if len(items)%2 != 0 {
		return u.fail(ir.KindCorrupt, op, "odd number of items for a dict")
	}
	for i := 0; i < len(items); i += 2 {
		if err := u.spendKey(op, items[i]); err != nil {
			return err
		}
		if err := dict.set(items[i], items[i+1]); err != nil {
			return u.fail(ir.KindUnsupported, op, "%v", err)
		}
	}
	return nil
}

func (u *unpickler) global(op int, module, name string) error {
	v, ok := allowedGlobal(module, name)
	if !ok && u.script {
		v, ok = scriptGlobal(module, name)
	}
	if !ok {
		return u.fail(ir.KindUnsupported, op, "the pickle asks for the global %s.%s, which is not allowed: modelc reads state dicts only (tensors, storages, dtypes, OrderedDict) and never runs code from a checkpoint", module, name)
	}
	u.push(v)
	return nil
}

func (u *unpickler) put(op int, code byte) error {
	var idx uint32
	switch code {
	case 'q':
		b, err := u.need(1)
		if err != nil {
			return err
		}
		idx = uint32(b[0])
	case 'r':
		b, err := u.need(4)
		if err != nil {
			return err
		}
		idx = binary.LittleEndian.Uint32(b)
	default: // MEMOIZE: the next free index
		idx = uint32(len(u.memo))
	}
	return u.store(op, idx)
}

func (u *unpickler) store(op int, idx uint32) error {
	v, err := u.top(op)
	if err != nil {
		return err
	}
	if _, exists := u.memo[idx]; !exists && len(u.memo) >= maxMemo {
		return u.fail(ir.KindCorrupt, op, "too many memo entries")
	}
	u.memo[idx] = v
	return nil
}

func (u *unpickler) get(op int, code byte) error {
	var idx uint32
	switch code {
	case 'h':
		b, err := u.need(1)
		if err != nil {
			return err
		}
		idx = uint32(b[0])
	case 'j':
		b, err := u.need(4)
		if err != nil {
			return err
		}
		idx = binary.LittleEndian.Uint32(b)
	default:
		s, err := u.line()
		if err != nil {
			return err
		}
		i, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil {
			return u.fail(ir.KindCorrupt, op, "bad GET index %q", s)
		}
		idx = uint32(i)
	}
	v, ok := u.memo[idx]
	if !ok {
		return u.fail(ir.KindCorrupt, op, "memo entry %d was never stored", idx)
	}
	u.push(v)
	return nil
}

func (u *unpickler) persistent(op int, pid any) error {
	if u.persistentLoad == nil {
		return u.fail(ir.KindCorrupt, op, "persistent id outside a checkpoint")
	}
	v, err := u.persistentLoad(pid)
	if err != nil {
		return u.fail(ir.KindOf(err), op, "%v", err)
	}
	u.push(v)
	return nil
}

// build handles BUILD: an OrderedDict's attributes (a state dict's _metadata, the
// version of each submodule) and a tensor's Python-side state are not weights, so they
// are dropped; BUILD on anything else is refused.
func (u *unpickler) build(op int, obj, state any) error {
	switch o := obj.(type) {
	case *pyDict, *tensorRef:
		return nil
	case *pyObject:
		if o.state != nil {
			return u.fail(ir.KindCorrupt, op, "BUILD twice on a %s", o.class)
		}
		o.state = state
		return nil
	}
	return u.fail(ir.KindUnsupported, op, "BUILD on a %s is not supported", typeName(obj))
}

// call evaluates an allowed global applied to args. This is the only place a pickle's
// "calls" happen, and each is modelc's own code.
func (u *unpickler) call(op int, fn, argv any) (any, error) {
	if c, ok := fn.(pyClass); ok {
		// NEWOBJ of a TorchScript class: an empty object whose state BUILD sets.
		if args, ok := argv.(pyTuple); !ok || len(args) != 0 {
			return nil, u.fail(ir.KindUnsupported, op, "TorchScript class %s is built with arguments; only attribute state is supported", c.name)
		}
		if err := u.work.spend(1 + int64(len(c.name))); err != nil {
			return nil, u.fail(ir.KindCorrupt, op, "%v", err)
		}
		return &pyObject{class: c.name}, nil
	}
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, u.fail(ir.KindUnsupported, op, "the pickle calls a %s, which is not allowed", typeName(fn))
	}
	args, ok := argv.(pyTuple)
	if !ok {
		return nil, u.fail(ir.KindCorrupt, op, "%s.%s called with a %s instead of an argument tuple", g.module, g.name, typeName(argv))
	}
	bad := func(format string, a ...any) error {
		return u.fail(ir.KindCorrupt, op, "%s.%s: "+format, append([]any{g.module, g.name}, a...)...)
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict", "builtins.dict":
		d := newDict()
		if len(args) == 0 {
			return d, nil
		}
		// OrderedDict(iterable of pairs)
		if l, ok := args[0].(*pyList); ok && len(args) == 1 {
			for _, it := range l.items {
				p, ok := it.(pyTuple)
				if !ok || len(p) != 2 {
					return nil, bad("expects (key, value) pairs")
				}
				if err := u.spendKey(op, p[0]); err != nil {
					return nil, err
				}
				if err := d.set(p[0], p[1]); err != nil {
					return nil, u.fail(ir.KindUnsupported, op, "%v", err)
				}
			}
			return d, nil
		}
		return nil, bad("unexpected arguments")
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
		// _rebuild_tensor(storage, offset, size, stride); v2 adds requires_grad,
		// backward_hooks and optional metadata; v3 adds the dtype after the hooks.
		arity := map[string][2]int{"_rebuild_tensor": {4, 4}, "_rebuild_tensor_v2": {6, 7}, "_rebuild_tensor_v3": {7, 8}}[g.name]
		if len(args) < arity[0] || len(args) > arity[1] {
			return nil, bad("%d arguments", len(args))
		}
		st, ok := args[0].(*storageRef)
		if !ok {
			return nil, bad("the storage is a %s", typeName(args[0]))
		}
		offset, ok := args[1].(int64)
		if !ok {
			return nil, bad("the storage offset is a %s", typeName(args[1]))
		}
		if err := u.spendTuples(op, args[2], args[3]); err != nil {
			return nil, err
		}
		shape, err1 := intTuple(args[2])
		stride, err2 := intTuple(args[3])
		if err1 != nil || err2 != nil || len(shape) != len(stride) {
			return nil, bad("size %v and stride %v are not integer tuples of one length", args[2], args[3])
		}
		t := &tensorRef{storage: st, dtype: st.dtype, offset: offset, shape: shape, stride: stride}
		if g.name == "_rebuild_tensor_v3" {
			d, ok := args[6].(torchDType)
			if !ok {
				return nil, bad("the dtype is a %s", typeName(args[6]))
			}
			t.dtype = d.dtype
		}
		return t, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(args) < 3 {
			return nil, bad("%d arguments", len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, bad("the data is a %s", typeName(args[0]))
		}
		return t, nil
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): a Tensor or Parameter rebuilt by func(*args).
		if len(args) != 4 {
			return nil, bad("%d arguments", len(args))
		}
		if nt, ok := args[1].(pyGlobal); !ok || nt.name != "Tensor" && nt.name != "Parameter" {
			return nil, u.fail(ir.KindUnsupported, op, "tensor subclass %v is not supported", args[1])
		}
		return u.call(op, args[0], args[2])
	case "torch.serialization._get_layout":
		return opaque{"layout"}, nil
	case "torch.Size":
		if len(args) != 1 {
			return nil, bad("%d arguments", len(args))
		}
		if err := u.spendTuples(op, args[0]); err != nil {
			return nil, err
		}
		if _, err := intTuple(args[0]); err != nil {
			return nil, bad("%v", err)
		}
		return args[0], nil
	case "torch.device":
		return opaque{"device"}, nil
	case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.build_doublelist",
		"torch.jit._pickle.build_boollist", "torch.jit._pickle.build_genericlist":
		if len(args) != 1 {
			return nil, bad("%d arguments", len(args))
		}
		if _, ok := args[0].(*pyList); !ok {
			return nil, bad("the argument is a %s", typeName(args[0]))
		}
		return args[0], nil
	case "torch.jit._pickle.restore_type_tag":
		if len(args) != 2 {
			return nil, bad("%d arguments", len(args))
		}
		return args[0], nil
	case "_codecs.encode":
		// Protocol 2 pickles bytes as _codecs.encode(text, "latin1").
		if len(args) != 2 {
			return nil, bad("%d arguments", len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || enc != "latin1" && enc != "latin-1" {
			return nil, bad("only (text, 'latin1') is supported")
		}
		if err := u.work.spend(int64(len(s))); err != nil {
			return nil, u.fail(ir.KindCorrupt, op, "%v", err)
		}
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, bad("character %U is not latin-1", r)
			}
			out = append(out, byte(r))
		}
		return out, nil
	}
	return nil, u.fail(ir.KindUnsupported, op, "calling %s.%s is not allowed", g.module, g.name)
}

// spendKey charges hashing a dict key (a long string key reused through the memo would
// otherwise be hashed once per use).
func (u *unpickler) spendKey(op int, k any) error {
	n := int64(1)
	if s, ok := k.(string); ok {
		n += int64(len(s))
	}
	if err := u.work.spend(n); err != nil {
		return u.fail(ir.KindCorrupt, op, "%v", err)
	}
	return nil
}

// spendTuples charges converting tuples to integer slices.
func (u *unpickler) spendTuples(op int, vs ...any) error {
	for _, v := range vs {
		if t, ok := v.(pyTuple); ok {
			if err := u.work.spend(1 + int64(len(t))); err != nil {
				return u.fail(ir.KindCorrupt, op, "%v", err)
			}
		}
	}
	return nil
}

// pyStringLiteral decodes the argument of a protocol-0 STRING opcode: a string literal
// as Python's repr writes it, in single or double quotes, with backslash escapes.
func pyStringLiteral(s string) (string, error) {
	if len(s) < 2 || s[0] != s[len(s)-1] || s[0] != '\'' && s[0] != '"' {
		return "", errors.New("not a quoted string")
	}
	s = s[1 : len(s)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("ends in a backslash")
		}
		switch e := s[i]; e {
		case '\\', '\'', '"':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'v':
			out = append(out, '\v')
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", errors.New("bad \\x escape")
			}
			out = append(out, byte(v))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 16)
			out = append(out, byte(v))
			i = j - 1
		default: // Python keeps an unknown escape as written
			out = append(out, '\\', e)
		}
	}
	return string(out), nil
}

// rawUnicodeEscape decodes the argument of a protocol-0 UNICODE opcode: latin-1 text
// in which \uXXXX and \UXXXXXXXX stand for other characters.
func rawUnicodeEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32); err == nil && v <= 0x10FFFF {
					b.WriteRune(rune(v))
					i += 1 + n
					continue
				}
			}
		}
		b.WriteRune(rune(c)) // latin-1
	}
	return b.String()
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("expected a tuple, got a %s", typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s", i, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return x.module + "." + x.name
	case storageType:
		return "torch." + x.name
	case torchDType:
		return "torch." + x.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	case opaque:
		return x.what
	case pyClass:
		return "class " + x.name
	case *pyObject:
		return x.class
	}
	return fmt.Sprintf("%T", v)
}

// scriptGlobal is what the pickles of a TorchScript archive may name beyond a state
// dict's globals: its own classes (__torch__.*), which become data, and the list
// builders its pickler writes. Nothing is imported or run.
func scriptGlobal(module, name string) (any, bool) {
	if module == "__torch__" || strings.HasPrefix(module, "__torch__.") {
		if name == "" || strings.ContainsAny(name, " \n\x00") {
			return nil, false
		}
		return pyClass{module + "." + name}, true
	}
	if module == "torch.jit._pickle" {
		switch name {
		case "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_genericlist", "restore_type_tag":
			return pyGlobal{module, name}, true
		}
	}
	return nil, false
}
