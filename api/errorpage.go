package api

import (
	"fmt"
	"io"
	"net/http"
)

// notFound answers 404 with the page supervisord's HTTP server sends
// (text/html), which a check that looks at the type or the page sees as
// it did there.
func notFound(w http.ResponseWriter) {
	const code = http.StatusNotFound
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, fmt.Sprintf("<head>\r\n<title>Error response</title>\r\n</head>\r\n<body>\r\n<h1>Error response</h1>\r\n<p>Error code %d.\r\n<p>Message: %s.\r\n</body>\r\n",
		code, http.StatusText(code)))
}
