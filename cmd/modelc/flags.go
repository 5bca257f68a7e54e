package main

import (
	"flag"
	"regexp"
	"strings"
)

// optionKey finds where an engine error names an option by its JSON key: `option
// block_size`, `option "block_size"`; optionKeys a list of them: `options inputs, labels
// and min_cosine`.
var (
	optionKey  = regexp.MustCompile(`\boption "?([a-z][a-z0-9_]*)"?`)
	optionKeys = regexp.MustCompile(`\boptions ([a-z][a-z0-9_]*(?:, [a-z][a-z0-9_]*)*(?: and [a-z][a-z0-9_]*)?)`)
	keyWord    = regexp.MustCompile(`[a-z][a-z0-9_]*`)
)

// recipeStep tells an error about a step of a --recipe file, whose keys the user wrote as
// JSON and which therefore keep their JSON names.
var recipeStep = regexp.MustCompile(`\bstep \d+\b`)

// flagError is an engine error reworded for the command line: the options it names by
// their JSON keys are named by the flags that set them (`--block-size`). Its kind is the
// engine error's.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

// withFlagNames rewords err so that it names the flags of fs instead of JSON keys. The
// engine speaks the options' JSON keys, as the C ABI and Python callers write them.
func withFlagNames(fs *flag.FlagSet, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if recipeStep.MatchString(msg) {
		return err
	}
	changed := false
	msg = optionKeys.ReplaceAllStringFunc(msg, func(m string) string {
		list := strings.TrimPrefix(m, "options ")
		for _, key := range keyWord.FindAllString(strings.ReplaceAll(list, " and ", ", "), -1) {
			if fs.Lookup(strings.ReplaceAll(key, "_", "-")) == nil {
				return m
			}
		}
		changed = true
		return keyWord.ReplaceAllStringFunc(list, func(key string) string {
			if key == "and" {
				return key
			}
			return "--" + strings.ReplaceAll(key, "_", "-")
		})
	})
	msg = optionKey.ReplaceAllStringFunc(msg, func(m string) string {
		key := optionKey.FindStringSubmatch(m)[1]
		name := strings.ReplaceAll(key, "_", "-")
		if fs.Lookup(name) == nil {
			return m
		}
		changed = true
		return "--" + name
	})
	if !changed {
		return err
	}
	return &flagError{msg: msg, err: err}
}
