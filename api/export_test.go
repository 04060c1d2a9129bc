package api

// SetMaxMulticallAnswer lowers the bound of a multicall's answer.
func (s *Server) SetMaxMulticallAnswer(n int) { s.maxMulticall = n }
