package main

import "github.com/ctlsup/ctlsup/api/xmlrpc"

func field(v any, name string) any {
	st, _ := v.(xmlrpc.Struct)
	x, _ := st.Get(name)
	return x
}

func fstr(v any, name string) string    { s, _ := field(v, name).(string); return s }
func fint(v any, name string) int       { n, _ := field(v, name).(int); return n }
func ffloat(v any, name string) float64 { f, _ := field(v, name).(float64); return f }
func fbool(v any, name string) bool     { b, _ := field(v, name).(bool); return b }

func list(v any) []any { l, _ := v.([]any); return l }
