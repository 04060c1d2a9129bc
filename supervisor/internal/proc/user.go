package proc

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// Credential is the identity a child runs as, with the environment a login
// would give it.
type Credential struct {
	Uid, Gid uint32
	Groups   []uint32
	Home     string
	Shell    string
	Name     string
}

// LookupUser resolves a user name (or numeric uid) to the credential and
// login environment of that user, supplementary groups included.
func LookupUser(name string) (*Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("can't find user '%s'", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	c := &Credential{Uid: uint32(uid), Gid: uint32(gid), Home: u.HomeDir, Name: u.Username, Shell: loginShell(u.Username)}
	gids, err := u.GroupIds()
	if err == nil {
		c.Groups = make([]uint32, 0, len(gids))
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
	}
	return c, nil
}

// Env is the login environment of the credential: HOME, USER, LOGNAME, SHELL.
func (c *Credential) Env() []string {
	return []string{"HOME=" + c.Home, "USER=" + c.Name, "LOGNAME=" + c.Name, "SHELL=" + c.Shell}
}

// loginShell reads the user's shell from /etc/passwd; os/user does not
// report it.
func loginShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}
