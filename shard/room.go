package shard

// room is the members of one room in a shard. Most rooms hold one member (every socket's
// own room, the personal room of a user with one tab), and a map for one member costs
// hundreds of bytes per connection; so one member is kept as such, a map from the second.
type room struct {
	one  Member              // the member while there is exactly one
	many map[Member]struct{} // the members once there are two or more
}

func (r *room) len() int {
	if r.many != nil {
		return len(r.many)
	}
	if r.one != nil {
		return 1
	}
	return 0
}

func (r *room) has(m Member) bool {
	if r.many != nil {
		_, ok := r.many[m]
		return ok
	}
	return r.one == m && m != nil
}

// add reports whether m was not a member yet.
func (r *room) add(m Member) bool {
	switch {
	case r.many != nil:
		if _, ok := r.many[m]; ok {
			return false
		}
		r.many[m] = struct{}{}
	case r.one == nil:
		r.one = m
	case r.one == m:
		return false
	default:
		r.many = map[Member]struct{}{r.one: {}, m: {}}
		r.one = nil
	}
	return true
}

// remove reports whether m was a member.
func (r *room) remove(m Member) bool {
	if r.many == nil {
		if r.one != m {
			return false
		}
		r.one = nil
		return true
	}
	if _, ok := r.many[m]; !ok {
		return false
	}
	delete(r.many, m)
	return true
}
