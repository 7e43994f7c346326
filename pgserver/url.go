package pgserver

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URLWithDatabase returns rawURL (a postgres:// or postgresql:// URL) with its
// database name replaced by db. Query parameters are kept, except a "dbname"
// parameter, which would override the path. Keyword/value DSNs
// ("host=... dbname=...") are not supported and give an error.
func URLWithDatabase(rawURL, db string) (string, error) {
	u, err := parsePostgresURL(rawURL)
	if err != nil {
		return "", err
	}
	if db == "" {
		return "", fmt.Errorf("pgserver: empty database name for %s", Redact(rawURL))
	}
	u.Path = "/" + db
	u.RawPath = ""
	if u.RawQuery != "" {
		q := u.Query()
		if q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
	}
	return u.String(), nil
}

func parsePostgresURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, fmt.Errorf("pgserver: %s is not a valid postgres:// URL", Redact(rawURL))
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("pgserver: %s is not a postgres:// URL (keyword/value DSNs are not supported)", Redact(rawURL))
	}
	return u, nil
}

var (
	// password=secret in a keyword/value DSN or a URL query.
	dsnPasswordRE = regexp.MustCompile(`(?i)(password=)('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	// scheme://user:secret@ in a string url.Parse rejected.
	userinfoPasswordRE = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
)

// Redact returns rawURL with any password replaced by "xxxxx", so the result
// can be logged or put in an error message. It handles postgres URLs (the
// user-info password and a "password" query parameter) and, as a fallback,
// keyword/value DSNs and strings that do not parse as URLs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		s := userinfoPasswordRE.ReplaceAllString(rawURL, "${1}xxxxx@")
		return dsnPasswordRE.ReplaceAllString(s, "${1}xxxxx")
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" && strings.Contains(strings.ToLower(u.RawQuery), "password") {
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
