package torch

// A parser for the subset of TorchScript source that torch.jit.save writes to code/ for
// traced modules: classes with attribute annotations and methods whose bodies are
// straight-line assignments and a return, made of calls, attribute reads, subscripts,
// literals, lists and tuples. Anything else (if, for, while, with, lambda, ...) parses
// as a statement of kind "unsupported" that the interpreter refuses, naming the line.
// The parser only reads text: nothing it parses is ever run by Python.

import (
	"fmt"
	"strconv"
	"strings"
)

// tsFile is one parsed code/ file.
type tsFile struct {
	path    string
	classes map[string]*tsClass
	funcs   map[string]*tsFunc
}

type tsClass struct {
	name    string
	methods map[string]*tsFunc
}

type tsFunc struct {
	name   string
	params []string // including self
	body   []*tsStmt
	line   int
}

// tsStmt is one statement: targets = value, return value, or a bare expression.
type tsStmt struct {
	line    int
	kind    string // "assign", "return", "expr", "pass", "unsupported"
	targets []string
	value   *tsExpr
	text    string // the source, for messages
}

// tsExpr is an expression node.
type tsExpr struct {
	kind string // "name", "int", "float", "str", "bool", "none", "attr", "call", "index", "list", "tuple", "unary", "binary"
	s    string // name, attribute, string value, operator
	i    int64
	f    float64
	b    bool
	x    *tsExpr   // the object of attr/call/index/unary; left of binary
	y    *tsExpr   // index; right of binary
	args []*tsExpr // call arguments, list/tuple items
	kw   []string  // call keyword names, parallel to the tail of args ("" for positional)
}

// Limits on what the parser accepts: a real traced module is far below them.
const (
	maxCodeFileBytes = 64 << 20
	maxExprDepth     = 200
)

type tsToken struct {
	kind string // "name", "num", "str", "op", "nl"
	s    string
	line int
}

// tsLogical is one logical line: its tokens, indentation and first physical line.
type tsLogical struct {
	indent int
	line   int
	toks   []tsToken
	text   string
}

// tokenizeTS splits source into logical lines (a line continues while brackets are open).
func tokenizeTS(src string) ([]tsLogical, error) {
	var out []tsLogical
	var cur *tsLogical
	depth := 0
	line := 1
	i := 0
	atLineStart := true
	lineStart := 0
	for i < len(src) {
		c := src[i]
		if atLineStart && depth == 0 {
			// measure indentation
			j := i
			for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
				j++
			}
			if j < len(src) && (src[j] == '\n' || src[j] == '#' || src[j] == '\r') {
				// blank or comment line
				for j < len(src) && src[j] != '\n' {
					j++
				}
				if j < len(src) {
					j++ // the newline
					line++
				}
				i = j
				continue
			}
			if j >= len(src) {
				break
			}
			cur = &tsLogical{indent: j - i, line: line}
			lineStart = j
			i = j
			atLineStart = false
			continue
		}
		switch {
		case c == '\n':
			line++
			i++
			if depth == 0 {
				if cur != nil {
					cur.text = strings.TrimSpace(src[lineStart:i])
					out = append(out, *cur)
					cur = nil
				}
				atLineStart = true
			}
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			line++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			s, n, err := scanTSString(src[i:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			cur.toks = append(cur.toks, tsToken{"str", s, line})
			i += n
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			cur.toks = append(cur.toks, tsToken{"name", src[i:j], line})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (isIdentPart(src[j]) || src[j] == '.' || (src[j] == '-' || src[j] == '+') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			cur.toks = append(cur.toks, tsToken{"num", src[i:j], line})
			i = j
		default:
			op := string(c)
			if i+1 < len(src) {
				two := src[i : i+2]
				switch two {
				case "==", "!=", "<=", ">=", "//", "->", "**", "+=", "-=", "*=", "/=":
					op = two
				}
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return nil, fmt.Errorf("line %d: unbalanced %q", line, op)
				}
				depth--
			}
			if !strings.Contains("()[]{},:.=+-*/%<>!@~&|^", op[:1]) {
				return nil, fmt.Errorf("line %d: unexpected character %q", line, c)
			}
			cur.toks = append(cur.toks, tsToken{"op", op, line})
			i += len(op)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("line %d: unclosed bracket at the end of the file", line)
	}
	if cur != nil {
		cur.text = strings.TrimSpace(src[lineStart:])
		out = append(out, *cur)
	}
	return out, nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// scanTSString reads a quoted string literal (no triple quotes), returning its value
// and length.
func scanTSString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\n':
			return "", 0, fmt.Errorf("unterminated string")
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// parseTSFile parses one code/ file.
func parseTSFile(path, src string) (*tsFile, error) {
	if len(src) > maxCodeFileBytes {
		return nil, fmt.Errorf("%s: %d bytes of code is more than a traced module has", path, len(src))
	}
	lines, err := tokenizeTS(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	f := &tsFile{path: path, classes: map[string]*tsClass{}, funcs: map[string]*tsFunc{}}
	i := 0
	for i < len(lines) {
		l := lines[i]
		if l.indent != 0 {
			return nil, fmt.Errorf("%s:%d: unexpected indentation", path, l.line)
		}
		t := l.toks
		switch {
		case len(t) >= 2 && t[0].s == "class" && t[0].kind == "name":
			c := &tsClass{name: t[1].s, methods: map[string]*tsFunc{}}
			if _, dup := f.classes[c.name]; dup {
				return nil, fmt.Errorf("%s:%d: class %s defined twice", path, l.line, c.name)
			}
			f.classes[c.name] = c
			i++
			for i < len(lines) && lines[i].indent > 0 {
				ml := lines[i]
				if len(ml.toks) > 0 && ml.toks[0].s == "def" && ml.toks[0].kind == "name" {
					fn, next, err := parseTSDef(path, lines, i)
					if err != nil {
						return nil, err
					}
					c.methods[fn.name] = fn
					i = next
					continue
				}
				i++ // attribute annotations, __parameters__, __buffers__, __annotations__
			}
		case len(t) >= 2 && t[0].s == "def" && t[0].kind == "name":
			fn, next, err := parseTSDef(path, lines, i)
			if err != nil {
				return nil, err
			}
			f.funcs[fn.name] = fn
			i = next
		case len(t) >= 1 && (t[0].s == "import" || t[0].s == "from"):
			i++
		default:
			// module-level statements (op_version_set = 1, constants): not needed
			i++
		}
	}
	return f, nil
}

// parseTSDef parses "def name(params) -> T:" at lines[i] and its body.
func parseTSDef(path string, lines []tsLogical, i int) (*tsFunc, int, error) {
	l := lines[i]
	t := l.toks
	if len(t) < 3 || t[1].kind != "name" || t[2].s != "(" {
		return nil, 0, fmt.Errorf("%s:%d: malformed def", path, l.line)
	}
	fn := &tsFunc{name: t[1].s, line: l.line}
	// parameters: names at bracket depth 1 that follow "(" or ","
	depth := 0
	for k := 2; k < len(t); k++ {
		switch t[k].s {
		case "(", "[", "{":
			depth++
			if depth == 1 && t[k].s == "(" && k+1 < len(t) && t[k+1].kind == "name" {
				fn.params = append(fn.params, t[k+1].s)
			}
		case ")", "]", "}":
			depth--
		case ",":
			if depth == 1 && k+1 < len(t) && t[k+1].kind == "name" {
				fn.params = append(fn.params, t[k+1].s)
			}
		}
		if depth == 0 {
			break // the end of the parameter list; the return annotation follows
		}
	}
	i++
	bodyIndent := -1
	for i < len(lines) && lines[i].indent > l.indent {
		bl := lines[i]
		if bodyIndent < 0 {
			bodyIndent = bl.indent
		}
		if bl.indent != bodyIndent {
			// inside a block (if/for): the statement that opened it is refused already
			fn.body = append(fn.body, &tsStmt{line: bl.line, kind: "nested", text: bl.text})
			i++
			continue
		}
		st, err := parseTSStmt(bl)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: %v", path, bl.line, err)
		}
		fn.body = append(fn.body, st)
		i++
	}
	return fn, i, nil
}

func parseTSStmt(l tsLogical) (*tsStmt, error) {
	t := l.toks
	st := &tsStmt{line: l.line, text: l.text}
	if len(t) == 0 {
		st.kind = "pass"
		return st, nil
	}
	if t[0].kind == "name" {
		switch t[0].s {
		case "return":
			st.kind = "return"
			if len(t) == 1 {
				st.value = &tsExpr{kind: "none"}
				return st, nil
			}
			e, err := parseTSExpr(t[1:])
			st.value = e
			return st, err
		case "pass":
			st.kind = "pass"
			return st, nil
		case "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "raise", "assert", "del", "global", "nonlocal", "lambda", "yield", "import", "from", "class", "def", "break", "continue":
			st.kind = "unsupported"
			st.value = &tsExpr{kind: "name", s: t[0].s}
			return st, nil
		}
	}
	// targets "=" value: find a top-level "="
	depth := 0
	eq := -1
	for k, tk := range t {
		if tk.kind != "op" {
			continue
		}
		switch tk.s {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case "=":
			if depth == 0 && eq < 0 {
				eq = k
			}
		case "+=", "-=", "*=", "/=":
			if depth == 0 {
				st.kind = "unsupported"
				st.value = &tsExpr{kind: "name", s: "augmented assignment"}
				return st, nil
			}
		}
	}
	if eq < 0 {
		e, err := parseTSExpr(t)
		st.kind, st.value = "expr", e
		return st, err
	}
	lhs := t[:eq]
	// name | name : Type | a, b, c[,]
	if len(lhs) >= 2 && lhs[1].s == ":" && lhs[0].kind == "name" {
		lhs = lhs[:1] // an annotated assignment
	}
	for k, tk := range lhs {
		if k%2 == 0 {
			if tk.kind != "name" {
				st.kind = "unsupported"
				st.value = &tsExpr{kind: "name", s: "assignment to " + tk.s}
				return st, nil
			}
			st.targets = append(st.targets, tk.s)
		} else if tk.s != "," {
			st.kind = "unsupported"
			st.value = &tsExpr{kind: "name", s: "assignment to an attribute or item"}
			return st, nil
		}
	}
	if len(st.targets) == 0 {
		return nil, fmt.Errorf("assignment without a target")
	}
	if len(lhs) > 1 && lhs[len(lhs)-1].s == "," || len(st.targets) > 1 {
		st.kind = "unpack"
	} else {
		st.kind = "assign"
	}
	e, err := parseTSExpr(t[eq+1:])
	st.value = e
	return st, err
}

// ---- expressions ----------------------------------------------------------------------

type tsParser struct {
	t     []tsToken
	pos   int
	depth int
}

func parseTSExpr(t []tsToken) (*tsExpr, error) {
	p := &tsParser{t: t}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.t) {
		return nil, fmt.Errorf("unexpected %q", p.t[p.pos].s)
	}
	return e, nil
}

func (p *tsParser) peek() *tsToken {
	if p.pos < len(p.t) {
		return &p.t[p.pos]
	}
	return nil
}

func (p *tsParser) isOp(s string) bool {
	t := p.peek()
	return t != nil && t.kind == "op" && t.s == s
}

func (p *tsParser) expect(s string) error {
	if !p.isOp(s) {
		if t := p.peek(); t != nil {
			return fmt.Errorf("expected %q, found %q", s, t.s)
		}
		return fmt.Errorf("expected %q at the end of the line", s)
	}
	p.pos++
	return nil
}

var tsBinPrec = map[string]int{
	"or": 1, "and": 2,
	"==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4, "is": 4, "in": 4,
	"+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "**": 9,
}

func (p *tsParser) expr(minPrec int) (*tsExpr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, fmt.Errorf("expression nested deeper than %d levels", maxExprDepth)
	}
	var left *tsExpr
	var err error
	if t := p.peek(); t != nil && (t.kind == "op" && t.s == "-" || t.kind == "name" && t.s == "not") {
		p.pos++
		x, err := p.expr(8)
		if err != nil {
			return nil, err
		}
		if x.kind == "int" && t.s == "-" {
			x.i = -x.i
			left = x
		} else if x.kind == "float" && t.s == "-" {
			x.f = -x.f
			left = x
		} else {
			left = &tsExpr{kind: "unary", s: t.s, x: x}
		}
	} else if left, err = p.postfix(); err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t == nil {
			return left, nil
		}
		prec, ok := tsBinPrec[t.s]
		if !ok || prec <= minPrec || t.kind == "str" || t.kind == "num" {
			return left, nil
		}
		p.pos++
		right, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		left = &tsExpr{kind: "binary", s: t.s, x: left, y: right}
	}
}

func (p *tsParser) postfix() (*tsExpr, error) {
	e, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.pos++
			t := p.peek()
			if t == nil || t.kind != "name" {
				return nil, fmt.Errorf("expected an attribute name after '.'")
			}
			p.pos++
			e = &tsExpr{kind: "attr", s: t.s, x: e}
		case p.isOp("("):
			p.pos++
			call := &tsExpr{kind: "call", x: e}
			for !p.isOp(")") {
				kw := ""
				if t := p.peek(); t != nil && t.kind == "name" && p.pos+1 < len(p.t) && p.t[p.pos+1].s == "=" && p.t[p.pos+1].kind == "op" {
					kw = t.s
					p.pos += 2
				}
				a, err := p.expr(0)
				if err != nil {
					return nil, err
				}
				call.args = append(call.args, a)
				call.kw = append(call.kw, kw)
				if !p.isOp(",") {
					break
				}
				p.pos++
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			e = call
		case p.isOp("["):
			p.pos++
			idx, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			e = &tsExpr{kind: "index", x: e, y: idx}
		default:
			return e, nil
		}
	}
}

func (p *tsParser) atom() (*tsExpr, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("expression expected at the end of the line")
	}
	p.pos++
	switch t.kind {
	case "name":
		switch t.s {
		case "None":
			return &tsExpr{kind: "none"}, nil
		case "True", "False":
			return &tsExpr{kind: "bool", b: t.s == "True"}, nil
		case "inf":
		}
		return &tsExpr{kind: "name", s: t.s}, nil
	case "num":
		s := strings.ReplaceAll(t.s, "_", "")
		if !strings.ContainsAny(s, ".eE") || strings.HasPrefix(s, "0x") {
			v, err := strconv.ParseInt(s, 0, 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q", t.s)
			}
			return &tsExpr{kind: "int", i: v}, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t.s)
		}
		return &tsExpr{kind: "float", f: v}, nil
	case "str":
		return &tsExpr{kind: "str", s: t.s}, nil
	case "op":
		switch t.s {
		case "[", "(":
			closer := map[string]string{"[": "]", "(": ")"}[t.s]
			var items []*tsExpr
			trailing := false
			for !p.isOp(closer) {
				it, err := p.expr(0)
				if err != nil {
					return nil, err
				}
				items = append(items, it)
				trailing = false
				if !p.isOp(",") {
					break
				}
				p.pos++
				trailing = true
			}
			if err := p.expect(closer); err != nil {
				return nil, err
			}
			if t.s == "[" {
				return &tsExpr{kind: "list", args: items}, nil
			}
			if len(items) == 1 && !trailing {
				return items[0], nil
			}
			return &tsExpr{kind: "tuple", args: items}, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q", t.s)
}

// String writes an expression back as source (for messages).
func (e *tsExpr) String() string {
	if e == nil {
		return ""
	}
	switch e.kind {
	case "name", "binary", "unary":
		if e.kind == "binary" {
			return e.x.String() + " " + e.s + " " + e.y.String()
		}
		if e.kind == "unary" {
			return e.s + " " + e.x.String()
		}
		return e.s
	case "int":
		return strconv.FormatInt(e.i, 10)
	case "float":
		return strconv.FormatFloat(e.f, 'g', -1, 64)
	case "str":
		return strconv.Quote(e.s)
	case "bool":
		if e.b {
			return "True"
		}
		return "False"
	case "none":
		return "None"
	case "attr":
		return e.x.String() + "." + e.s
	case "call":
		var parts []string
		for i, a := range e.args {
			if e.kw[i] != "" {
				parts = append(parts, e.kw[i]+"="+a.String())
			} else {
				parts = append(parts, a.String())
			}
		}
		return e.x.String() + "(" + strings.Join(parts, ", ") + ")"
	case "index":
		return e.x.String() + "[" + e.y.String() + "]"
	case "list", "tuple":
		var parts []string
		for _, a := range e.args {
			parts = append(parts, a.String())
		}
		if e.kind == "list" {
			return "[" + strings.Join(parts, ", ") + "]"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return e.kind
}
