package xmlrpc

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// lexerSeeds cover the lexer's subset and what it leaves to encoding/xml.
var lexerSeeds = []string{
	"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42;</string></value>\n</param>\n</params>\n</methodResponse>\n",
	"<methodResponse><params><param><value>bare é ✓</value></param></params></methodResponse>",
	"<methodResponse><params><param><value><struct><member><name>k</name><value><nil/></value></member><member><name>k</name><value><i4>-3</i4></value></member></struct></value></param></params></methodResponse>",
	"<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><double>1.5</double></value></data></array></value></param></params></methodResponse>",
	"<methodResponse><params><param><value><string><![CDATA[<raw>]]></string></value></param></params></methodResponse>",
	"<methodResponse><!-- c --><params><param><value><string>x</string></value></param></params></methodResponse>",
	"<methodResponse><params><param><value><string a='1'>x</string></value></param></params></methodResponse>",
	"<methodResponse><params><param><value><string>x\r\ny</string></value></param></params></methodResponse>",
	"<methodResponse><params><param><value><string>&#13;&#0;&#xFFFE;&bogus;</string></value></param></params></methodResponse>",
	"<x:methodResponse xmlns:x='u'><x:params><x:param><x:value>v</x:value></x:param></x:params></x:methodResponse>",
	"<?xml version='1.0' encoding='ISO-8859-1'?><methodResponse/>",
	"<methodCall><methodName>supervisor.getState</methodName></methodCall>",
	"<methodCall><methodName >m</methodName ><params><param><value><string>\x01</string></value></param></params></methodCall>",
}

// FuzzLexer_AgreesWithEncodingXML: whatever the lexer decodes, encoding/xml
// decodes to the same value; whatever the lexer leaves, the fallback gives
// encoding/xml's answer.
func FuzzLexer_AgreesWithEncodingXML(f *testing.F) {
	for _, s := range lexerSeeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"response_info.xml", "response_fault.xml", "call_types.xml"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, kind := range []string{"call", "response"} {
			fast, fastErr := decodeWith(kind, &lexer{in: in})
			slow, slowErr := decodeWith(kind, newXMLSource(bytes.NewReader(in)))
			if fastErr == nil && (slowErr != nil || !reflect.DeepEqual(fast, slow)) {
				t.Fatalf("%s %q: lexer %#v, encoding/xml %#v (%v)", kind, in, fast, slow, slowErr)
			}
		}
	})
}

func decodeWith(kind string, src tokenSource) (any, error) {
	d := &decoder{src: src}
	if kind == "call" {
		return d.call()
	}
	return d.response()
}

// TestLexer_Seeds runs the seeds, and checks the lexer takes the common
// documents itself rather than leaving them to encoding/xml.
func TestLexer_Seeds(t *testing.T) {
	for _, s := range lexerSeeds {
		for _, kind := range []string{"call", "response"} {
			fast, fastErr := decodeWith(kind, &lexer{in: []byte(s)})
			slow, slowErr := decodeWith(kind, newXMLSource(bytes.NewReader([]byte(s))))
			if fastErr == nil && (slowErr != nil || !reflect.DeepEqual(fast, slow)) {
				t.Errorf("%s %q: lexer %#v, encoding/xml %#v (%v)", kind, s, fast, slow, slowErr)
			}
		}
	}
	for _, name := range []string{"response_info.xml", "response_fault.xml", "response_string.xml"} {
		if _, err := decodeWith("response", &lexer{in: golden(t, name)}); err != nil && !isFault(err) {
			t.Errorf("%s: the lexer leaves it: %v", name, err)
		}
	}
	for _, s := range lexerSeeds[:4] {
		if _, err := decodeWith("response", &lexer{in: []byte(s)}); err != nil {
			t.Errorf("%.50q: the lexer leaves it: %v", s, err)
		}
	}
}

func isFault(err error) bool {
	_, ok := err.(*Fault)
	return ok
}
