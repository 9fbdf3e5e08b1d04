package engine

import "strings"

// index is a trie over the topic filters of the enabled rules: matching a
// topic walks its levels once (plus the '+' and '#' branches), so its cost
// depends on the topic's depth and on the rules that match, not on how many
// rules there are. An index is built once per snapshot and never modified
// afterwards.
type index struct {
	root *trieNode
}

type trieNode struct {
	children map[string]*trieNode // exact levels
	plus     *trieNode            // '+'
	hash     []*rule              // rules whose filter ends with '#' here
	exact    []*rule              // rules whose filter ends here
}

func newTrieNode() *trieNode { return &trieNode{} }

func (ix *index) add(filter string, r *rule) {
	if ix.root == nil {
		ix.root = newTrieNode()
	}
	n := ix.root
	for {
		lvl, rest, more := strings.Cut(filter, "/")
		if lvl == "#" {
			n.hash = append(n.hash, r)
			return
		}
		var next *trieNode
		if lvl == "+" {
			if n.plus == nil {
				n.plus = newTrieNode()
			}
			next = n.plus
		} else {
			if n.children == nil {
				n.children = map[string]*trieNode{}
			}
			next = n.children[lvl]
			if next == nil {
				next = newTrieNode()
				n.children[lvl] = next
			}
		}
		n = next
		if !more {
			n.exact = append(n.exact, r)
			return
		}
		filter = rest
	}
}

// match appends to out every rule with a filter matching topic (a rule may
// appear more than once when several of its filters match; the caller
// deduplicates).
func (ix *index) match(topic string, out []*rule) []*rule {
	if ix.root == nil {
		return out
	}
	return matchNode(ix.root, topic, true, out)
}

func matchNode(n *trieNode, topic string, first bool, out []*rule) []*rule {
	// A topic starting with '$' is not matched by '+' or '#' at the first level.
	wild := !(first && strings.HasPrefix(topic, "$"))
	if wild {
		out = append(out, n.hash...)
	}
	lvl, rest, more := strings.Cut(topic, "/")
	if c := n.children[lvl]; c != nil {
		out = visit(c, rest, more, out)
	}
	if wild && n.plus != nil {
		out = visit(n.plus, rest, more, out)
	}
	return out
}

func visit(c *trieNode, rest string, more bool, out []*rule) []*rule {
	if !more {
		out = append(out, c.exact...)
		return append(out, c.hash...) // "a/#" matches "a"
	}
	return matchNode(c, rest, false, out)
}
