module github.com/ctlsup/ctlsup

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	gopkg.in/natefinch/lumberjack.v2 v2.2.1
)
