package config

import (
	"reflect"
	"strings"
)

// detachStrings gives every string the configuration holds a copy of its
// own, one per distinct value. A parsed string is a slice of its file's
// text, so a program's name alone kept the whole file alive for the
// daemon's life (a few hundred bytes per program); and many programs
// share a directory, a user or an environment value, now stored once.
// The unexported lookup tables are walked too: their keys are names.
func detachStrings(cfg *Config) {
	d := detacher{strs: map[string]string{}, ptrs: map[uintptr]bool{}}
	d.walk(reflect.ValueOf(cfg).Elem())
	d.walk(reflect.ValueOf(&cfg.userAt).Elem())
	d.walk(reflect.ValueOf(&cfg.commandAt).Elem())
}

type detacher struct {
	strs map[string]string
	ptrs map[uintptr]bool // pointers already walked
}

func (d *detacher) str(s string) string {
	if c, ok := d.strs[s]; ok {
		return c
	}
	c := strings.Clone(s)
	d.strs[c] = c
	return c
}

// walk detaches the strings of v, which is settable; what cannot be set
// (unexported fields, interfaces' contents) is left alone.
func (d *detacher) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(d.str(v.String()))
	case reflect.Pointer:
		if v.IsNil() || d.ptrs[v.Pointer()] {
			return
		}
		d.ptrs[v.Pointer()] = true
		d.walk(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				d.walk(f)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			d.walk(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() || !holdsStrings(v.Type(), 0) {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			d.walk(k)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			d.walk(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	}
}

// holdsStrings reports whether a value of type t may hold a string.
func holdsStrings(t reflect.Type, depth int) bool {
	if depth > 8 {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsStrings(t.Elem(), depth+1)
	case reflect.Map:
		return holdsStrings(t.Key(), depth+1) || holdsStrings(t.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsStrings(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}
