package access

import (
	"sync/atomic"
)

// Store holds the rules in force, swapped whole on reload (SIGHUP), so a
// check reads one consistent set without a lock.
type Store struct {
	path  string
	rules atomic.Pointer[Rules]
}

// NewStore loads the rules file at path; an empty path gives Default.
func NewStore(path string) (*Store, error) {
	s := &Store{path: path}
	if path == "" {
		s.rules.Store(Default())
		return s, nil
	}
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	s.rules.Store(r)
	return s, nil
}

// Path is the rules file ("" when ACCESS_RULES is unset).
func (s *Store) Path() string { return s.path }

// Rules returns the rules in force.
func (s *Store) Rules() *Rules {
	if s == nil {
		return Default()
	}
	return s.rules.Load()
}

// Reload reads the file again; on an error the rules in force stay.
func (s *Store) Reload() (*Rules, error) {
	if s.path == "" {
		return s.Rules(), nil
	}
	r, err := Load(s.path)
	if err != nil {
		return nil, err
	}
	s.rules.Store(r)
	return r, nil
}
