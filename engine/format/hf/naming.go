package hf

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The general.* naming keys as llama.cpp's converter derives them (convert_hf_to_gguf.py's
// prepare_metadata with gguf-py's Metadata.load, get_model_id_components, id_to_title and
// utility.size_label; gguf-py 0.19.0, llama.cpp conversion/base.py at 2bbcf7fc): the model
// id is config.json's "_name_or_path" when it is a Hugging Face id (at most one '/'),
// then the folder's name, each filling only what is still unknown; a size label not in
// the name is computed from the parameter count. A model card (README.md front matter),
// which the converter reads first, is not read by modelc.

// naming is what the heuristics find; a field is written when set (it may be set to
// "", as gguf-py's None-or-string fields can).
type naming struct {
	name, organization, basename, finetune, version, sizeLabel opt
}

type opt struct {
	s  string
	ok bool
}

func (o *opt) fill(v opt) {
	if !o.ok {
		*o = v
	}
}

func some(s string) opt { return opt{s, true} }

// nonEmpty is gguf-py's `"-".join(...) or None`.
func nonEmpty(s string) opt { return opt{s, s != ""} }

// modelNaming applies the heuristics to the config's "_name_or_path" and the folder
// name, for a model of totalParams parameters.
func modelNaming(nameOrPath *string, folder string, totalParams int64) naming {
	var n naming
	fill := func(modelID string) {
		c := modelIDComponents(modelID, totalParams)
		if c.fullName.ok {
			n.name.fill(some(idToTitle(c.fullName.s)))
		}
		if c.org.ok {
			n.organization.fill(some(idToTitle(c.org.s)))
		}
		n.basename.fill(c.basename)
		n.finetune.fill(c.finetune)
		n.version.fill(c.version)
		n.sizeLabel.fill(c.sizeLabel)
	}
	if nameOrPath != nil && strings.Count(*nameOrPath, "/") <= 1 {
		fill(*nameOrPath)
	}
	fill(folder)
	n.name.fill(some(folder))
	if !n.sizeLabel.ok && totalParams > 0 {
		n.sizeLabel = some(weightCountNotation(totalParams))
	}
	return n
}

type idComponents struct {
	fullName, org, basename, finetune, version, sizeLabel opt
}

var (
	versionPart  = regexp.MustCompile(`(?i)^(v|iter)?\d+([.]\d+)*$`)
	typePart     = regexp.MustCompile(`(?i)^(i?q\d(_\w)*|b?fp?(16|32))$`)
	sizePart     = regexp.MustCompile(`(?i)^((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?)|small|mini|medium|large|x?xl)$`)
	finetunePart = regexp.MustCompile(`(?i)^(chat|instruct|vision|lora)$`)
	titleKeep    = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)$`)
)

// modelIDComponents splits a model id such as "meta-llama/Llama-2-7b-chat-hf" into its
// parts, as gguf-py's Metadata.get_model_id_components does.
func modelIDComponents(modelID string, totalParams int64) idComponents {
	var c idComponents
	c.fullName = some(modelID)
	if strings.Contains(modelID, " ") {
		return c // a sentence, not an id
	}
	if org, name, ok := strings.Cut(modelID, "/"); ok {
		c.org, c.fullName = some(org), some(name)
		if strings.HasPrefix(org, ".") {
			c.org = opt{}
		}
	}
	var parts []string
	for _, p := range strings.Split(c.fullName.s, "-") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	const (
		tBasename = 1 << iota
		tSize
		tFinetune
		tVersion
		tType
	)
	kinds := make([]int, len(parts))
	for i, part := range parts {
		switch {
		case versionPart.MatchString(part):
			kinds[i] |= tVersion
		case typePart.MatchString(part):
			kinds[i] |= tType
			parts[i] = strings.ToUpper(part)
		case i > 0 && sizePart.MatchString(part):
			part = strings.ReplaceAll(part, "_", ".")
			if last := part[len(part)-1]; isDecimal(last) {
				// bloom-7b1 → 7.1b
				part = part[:len(part)-2] + "." + part[len(part)-1:] + part[len(part)-2:len(part)-1]
			}
			if len(part) > 1 && isDecimal(part[len(part)-2]) && strings.ContainsRune("kmbt", rune(part[len(part)-1])) {
				part = part[:len(part)-1] + strings.ToUpper(part[len(part)-1:])
			}
			if totalParams != 0 {
				if f, err := strconv.ParseFloat(part[:len(part)-1], 64); err == nil && isPyFloat(part[:len(part)-1]) {
					label := f * math.Pow(1000, float64(strings.IndexByte(" KMBT", part[len(part)-1])))
					if (totalParams < 0 && label < float64(pyFloorDiv(-totalParams, 8))) ||
						(totalParams > 0 && math.Abs(label-float64(totalParams)) > float64(pyFloorDiv(7*totalParams, 8))) {
						kinds[i] |= tFinetune // likely a context length
						part = part[:len(part)-1] + strings.ToLower(part[len(part)-1:])
					}
				}
			}
			if kinds[i] == 0 {
				kinds[i] |= tSize
			}
			parts[i] = part
		case i > 0 && finetunePart.MatchString(part):
			if totalParams < 0 && strings.EqualFold(part, "lora") {
				kinds[i] |= tType
			} else {
				kinds[i] |= tFinetune
			}
		}
	}
	// word-based size labels give way to a number-based one
	numeric := false
	for i, p := range parts {
		if kinds[i]&tSize != 0 && strings.IndexFunc(p, unicode.IsDigit) >= 0 {
			numeric = true
		}
	}
	if numeric {
		for i, p := range parts {
			if kinds[i]&tSize != 0 && allAlpha(p) {
				kinds[i] &^= tSize
			}
		}
	}
	atStart := true
	for i, p := range parts {
		first, _ := firstRune(p)
		if atStart && ((kinds[i] == 0 && unicode.IsLetter(first)) || kinds[i]&tVersion != 0) {
			kinds[i] |= tBasename
		} else {
			atStart = false
			if kinds[i] == 0 {
				kinds[i] |= tFinetune
			}
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if kinds[i]&tBasename != 0 && kinds[i] != tBasename {
			kinds[i] &^= tBasename
		} else {
			break
		}
	}
	join := func(want, not int, dedupe bool) string {
		var out []string
		seen := map[string]bool{}
		for i, p := range parts {
			if kinds[i]&want == 0 || kinds[i]&not != 0 || (dedupe && seen[p]) {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
		return strings.Join(out, "-")
	}
	c.basename = nonEmpty(join(tBasename, 0, false))
	c.sizeLabel = nonEmpty(join(tSize, 0, true))
	c.finetune = nonEmpty(join(tFinetune, 0, false))
	c.version = nonEmpty(join(tVersion, tBasename, false))
	if !c.sizeLabel.ok && !c.finetune.ok && !c.version.ok {
		c.basename = opt{}
	}
	return c
}

func isDecimal(b byte) bool { return b >= '0' && b <= '9' }

// isPyFloat reports whether Python's float() accepts s as a plain decimal (what the
// size labels hold); Go's ParseFloat also takes hex and underscores, which Python's does not
// in this form.
func isPyFloat(s string) bool {
	return s != "" && strings.Trim(s, "0123456789.") == "" && strings.Count(s, ".") <= 1 && s != "."
}

func pyFloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func allAlpha(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

func firstRune(s string) (rune, bool) {
	for _, r := range s {
		return r, true
	}
	return 0, false
}

// idToTitle is gguf-py's Metadata.id_to_title: dashes become spaces, and each
// all-lowercase word that is not a version or number is title-cased (Python's
// str.title: a letter after a non-letter starts a word).
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if pyIsLower(w) && !titleKeep.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

func isCased(r rune) bool { return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) }

func pyIsLower(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			return false
		}
		cased = cased || unicode.IsLower(r)
	}
	return cased
}

func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if prevCased {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(unicode.ToTitle(r))
		}
		prevCased = isCased(r)
	}
	return b.String()
}

// weightCountNotation is gguf-py's size_label for a model without experts
// (model_weight_count_rounded_notation with two significant digits): 1.2B, 8.0B, 135M,
// 70K.
func weightCountNotation(n int64) string {
	x := float64(n)
	var scaled float64
	var suffix string
	switch {
	case x > 1e12:
		scaled, suffix = x*1e-12, "T"
	case x > 1e9:
		scaled, suffix = x*1e-9, "B"
	case x > 1e6:
		scaled, suffix = x*1e-6, "M"
	default:
		scaled, suffix = x*1e-3, "K"
	}
	digits := strings.TrimLeft(strconv.FormatFloat(math.RoundToEven(scaled), 'f', 0, 64), "0")
	fix := max(2-len(digits), 0)
	return strconv.FormatFloat(scaled, 'f', fix, 64) + suffix
}
