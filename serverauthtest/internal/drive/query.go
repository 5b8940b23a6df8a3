package drive

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// matcher reports whether a file matches a query.
type matcher func(*File) bool

// parseQuery compiles q (empty matches everything); parent resolves the
// ID of an "in parents" term to a real ID (or errors).
func parseQuery(q string, parent func(string) (string, *apiError)) (matcher, *apiError) {
	if strings.TrimSpace(q) == "" {
		return func(*File) bool { return true }, nil
	}
	toks, ok := lexQuery(q)
	if !ok {
		return nil, errBadQuery()
	}
	p := &queryParser{toks: toks, parent: parent}
	m := p.or()
	if p.err == nil && p.i != len(p.toks) {
		p.fail()
	}
	if p.err != nil {
		return nil, p.err
	}
	return m, nil
}

// queryToken is a query token: kind 'w' a word, 's' a string, 'o' an operator,
// or one of ( ) { }.
type queryToken struct {
	kind byte
	s    string
}

// lexQuery splits q into tokens.
func lexQuery(q string) ([]queryToken, bool) {
	var toks []queryToken
	for i := 0; i < len(q); {
		ch := q[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '(' || ch == ')' || ch == '{' || ch == '}':
			toks = append(toks, queryToken{kind: ch})
			i++
		case ch == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, false
				}
				if q[i] == '\\' {
					if i+1 >= len(q) || (q[i+1] != '\'' && q[i+1] != '\\') {
						return nil, false
					}
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				if q[i] == '\'' {
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			toks = append(toks, queryToken{kind: 's', s: b.String()})
		case ch == '=' || ch == '!' || ch == '<' || ch == '>':
			j := i + 1
			if j < len(q) && q[j] == '=' {
				j++
			}
			op := q[i:j]
			if op == "!" {
				return nil, false
			}
			toks = append(toks, queryToken{kind: 'o', s: op})
			i = j
		case ch == '_' || ch == '.' || ch < utf8.RuneSelf && (unicode.IsLetter(rune(ch)) || unicode.IsDigit(rune(ch))):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '.' || q[j] < utf8.RuneSelf && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])))) {
				j++
			}
			toks = append(toks, queryToken{kind: 'w', s: q[i:j]})
			i = j
		default:
			return nil, false
		}
	}
	return toks, true
}

// queryParser is the state of parseQuery.
type queryParser struct {
	toks   []queryToken
	i      int
	parent func(string) (string, *apiError)
	err    *apiError
}

func (p *queryParser) fail() matcher {
	if p.err == nil {
		p.err = errBadQuery()
	}
	return func(*File) bool { return false }
}

func (p *queryParser) next() queryToken {
	if p.i < len(p.toks) {
		p.i++
		return p.toks[p.i-1]
	}
	return queryToken{}
}

func (p *queryParser) peekWord(w string) bool {
	return p.i < len(p.toks) && p.toks[p.i].kind == 'w' && strings.EqualFold(p.toks[p.i].s, w)
}

func (p *queryParser) or() matcher {
	m := p.and()
	for p.err == nil && p.peekWord("or") {
		p.i++
		a, b := m, p.and()
		m = func(f *File) bool { return a(f) || b(f) }
	}
	return m
}

func (p *queryParser) and() matcher {
	m := p.unary()
	for p.err == nil && p.peekWord("and") {
		p.i++
		a, b := m, p.unary()
		m = func(f *File) bool { return a(f) && b(f) }
	}
	return m
}

func (p *queryParser) unary() matcher {
	switch {
	case p.peekWord("not"):
		p.i++
		m := p.unary()
		return func(f *File) bool { return !m(f) }
	case p.i < len(p.toks) && p.toks[p.i].kind == '(':
		p.i++
		m := p.or()
		if p.next().kind != ')' {
			return p.fail()
		}
		return m
	}
	return p.term()
}

// term parses one comparison.
func (p *queryParser) term() matcher {
	t := p.next()
	if t.kind == 's' { // '<id>' in parents
		if in, field := p.next(), p.next(); in.kind != 'w' || in.s != "in" || field.kind != 'w' || field.s != "parents" {
			return p.fail()
		}
		id, err := p.parent(t.s)
		if err != nil {
			p.err = err
			return p.fail()
		}
		return func(f *File) bool { return id != "" && slices.Contains(f.Parents, id) }
	}
	if t.kind != 'w' {
		return p.fail()
	}
	switch t.s {
	case "name", "mimeType":
		op, v := p.next(), p.next()
		get := func(f *File) string { return f.Name }
		if t.s == "mimeType" {
			get = func(f *File) string { return f.MimeType }
		}
		if v.kind != 's' {
			return p.fail()
		}
		switch {
		case op.kind == 'o' && op.s == "=":
			return func(f *File) bool { return get(f) == v.s }
		case op.kind == 'o' && op.s == "!=":
			return func(f *File) bool { return get(f) != v.s }
		case op.kind == 'w' && op.s == "contains" && t.s == "name":
			return func(f *File) bool { return nameContains(f.Name, v.s) }
		case op.kind == 'w' && op.s == "contains":
			return func(f *File) bool { return strings.Contains(f.MimeType, v.s) }
		}
		return p.fail()
	case "trashed", "starred":
		op, v := p.next(), p.next()
		if op.kind != 'o' || (op.s != "=" && op.s != "!=") || v.kind != 'w' || (v.s != "true" && v.s != "false") {
			return p.fail()
		}
		wantSet := (v.s == "true") == (op.s == "=") // files are never trashed or starred here
		return func(*File) bool { return !wantSet }
	case "createdTime", "modifiedTime":
		op, v := p.next(), p.next()
		if op.kind != 'o' || v.kind != 's' {
			return p.fail()
		}
		at, err := time.Parse(time.RFC3339Nano, v.s)
		if err != nil {
			return p.fail()
		}
		get := func(f *File) time.Time { return f.Created }
		if t.s == "modifiedTime" {
			get = func(f *File) time.Time { return f.Modified }
		}
		cmp := map[string]func(int) bool{
			"=": func(n int) bool { return n == 0 }, "!=": func(n int) bool { return n != 0 },
			"<": func(n int) bool { return n < 0 }, "<=": func(n int) bool { return n <= 0 },
			">": func(n int) bool { return n > 0 }, ">=": func(n int) bool { return n >= 0 },
		}[op.s]
		return func(f *File) bool { return cmp(get(f).Compare(at)) }
	case "appProperties", "properties":
		// appProperties has { key='k' and value='v' }
		want := []byte{'w', '{', 'w', 'o', 's', 'w', 'w', 'o', 's', '}'}
		var got [10]queryToken
		for i, k := range want {
			if got[i] = p.next(); got[i].kind != k {
				return p.fail()
			}
		}
		if got[0].s != "has" || got[2].s != "key" || got[3].s != "=" || !strings.EqualFold(got[5].s, "and") || got[6].s != "value" || got[7].s != "=" {
			return p.fail()
		}
		key, val := got[4].s, got[8].s
		if t.s == "appProperties" {
			return func(f *File) bool { v, ok := f.AppProperties[key]; return ok && v == val }
		}
		return func(f *File) bool { v, ok := f.Properties[key]; return ok && v == val }
	}
	return p.fail()
}

// nameContains is Drive's "name contains": a case-insensitive prefix match
// on the name or on any word in it.
func nameContains(name, v string) bool {
	n, v := []rune(strings.ToLower(name)), strings.ToLower(v)
	for i := range n {
		if i > 0 && (unicode.IsLetter(n[i-1]) || unicode.IsDigit(n[i-1])) {
			continue
		}
		if strings.HasPrefix(string(n[i:]), v) {
			return true
		}
	}
	return v == ""
}
