package rules

// Expr is a node of a rule's checked syntax tree. The concrete types are
// *Literal, *Path, *Slice, *Range, *ListLit, *Call, *Unary, *Binary, *In,
// *Logic, *Not and *Case.
type Expr interface {
	// Position returns where the expression starts in the SQL text.
	Position() Pos
	eval(e *env) (Value, error)
}

// Literal is a constant: an integer, a float, a string or true/false.
type Literal struct {
	At    Pos   // where it starts
	Value Value // int64, float64, string or bool
}

// Step is one step of a Path or of a Field's alias or key: a map key, a
// constant index or, in a Path, an index computed from another path (Dyn).
type Step struct {
	Key     string // the key, when IsIndex is false
	IsIndex bool   // an index step ([n], [-n], [path]) rather than a key
	Index   int64  // 1-based; negative counts from the end
	Tail    bool   // in an alias, [-0]: append at the tail ([0] inserts at the head)
	Dyn     Expr   // in a Path, [path]: the index (or key) is this value
}

// Path reads a column and descends into it: payload.a.b, payload.list[1].
// A bare name is a Path with no steps.
type Path struct {
	At    Pos    // where it starts
	Root  string // the column name
	Steps []Step // the steps into the column
}

// Slice is x[from..to]: an inclusive, 1-based sub-list.
type Slice struct {
	At       Pos  // the '[' position
	X        Expr // the list (a Path)
	From, To Expr // first element (1-based, negative from the end) / last element, inclusive
}

// Range is [from..to]: the list of integers from..to.
type Range struct {
	At       Pos  // where it starts
	From, To Expr // first integer / last integer, inclusive
}

// ListLit is a literal list [e1, e2, ...].
type ListLit struct {
	At    Pos    // where it starts
	Elems []Expr // the elements, in order
}

// Call is a function call. Builtin is nil when the name is not a built-in
// function: the call then fails at run time ("function not supported").
type Call struct {
	At      Pos      // where it starts
	Name    string   // the function name (case-sensitive)
	Args    []Expr   // the arguments, in order
	Builtin *Builtin // the function, or nil when unknown
}

// Op is an operator.
type Op string

// Operators of Unary, Binary and Logic nodes.
const (
	OpAdd    Op = "+"
	OpSub    Op = "-"
	OpMul    Op = "*"
	OpDiv    Op = "/"
	OpIntDiv Op = "div"
	OpMod    Op = "mod"
	OpEq     Op = "="
	OpNe     Op = "!="
	OpLt     Op = "<"
	OpLe     Op = "<="
	OpGt     Op = ">"
	OpGe     Op = ">="
	OpMatch  Op = "=~"
	OpAnd    Op = "and"
	OpOr     Op = "or"
)

// IsComparison reports whether op is one of = != < <= > >= =~.
func (op Op) IsComparison() bool {
	switch op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpMatch:
		return true
	}
	return false
}

// Unary is +x or -x.
type Unary struct {
	At Pos  // where it starts
	Op Op   // OpAdd or OpSub
	X  Expr // the operand
}

// Binary is arithmetic (+ - * / div mod) or a comparison (= != < <= > >= =~).
type Binary struct {
	At   Pos  // the operator position
	Op   Op   // the operator
	L, R Expr // left operand / right operand
}

// In is x [NOT] IN (e1, e2, ...): exact membership.
type In struct {
	At   Pos    // the IN position
	X    Expr   // the value looked for
	List []Expr // the candidates
	Not  bool   // NOT IN
}

// Logic is cond AND cond or cond OR cond (conditions only).
type Logic struct {
	At   Pos  // the operator position
	Op   Op   // OpAnd or OpOr
	L, R Expr // left condition / right condition
}

// Not is NOT cond (conditions only).
type Not struct {
	At Pos  // the NOT position
	X  Expr // the negated condition
}

// When is one WHEN ... THEN ... branch of a Case.
type When struct {
	Cond Expr // a condition (searched CASE) or a value (simple CASE)
	Then Expr // the value when Cond holds
}

// Case is CASE [subject] WHEN ... THEN ... [ELSE ...] END. Subject is nil for
// the searched form.
type Case struct {
	At      Pos    // the CASE position
	Subject Expr   // nil for the searched form
	Whens   []When // the branches, in order
	Else    Expr   // nil without ELSE
}

// Field is one field of SELECT, FOREACH or DO.
type Field struct {
	Star bool // *
	Expr Expr // the value (nil for *)
	// Alias is the AS target, nil when there is none.
	Alias []Step
	// Key is where the value is written: the alias, or the path itself for
	// an un-aliased column or path, or a generated key (_v_fun_name, ...).
	Key []Step
	// writeBack is true when a later field may read this one's value
	// through the working input (see markWriteBacks).
	writeBack bool
}

// Position implements Expr.
func (x *Literal) Position() Pos { return x.At }

// Position implements Expr.
func (x *Path) Position() Pos { return x.At }

// Position implements Expr.
func (x *Slice) Position() Pos { return x.At }

// Position implements Expr.
func (x *Range) Position() Pos { return x.At }

// Position implements Expr.
func (x *ListLit) Position() Pos { return x.At }

// Position implements Expr.
func (x *Call) Position() Pos { return x.At }

// Position implements Expr.
func (x *Unary) Position() Pos { return x.At }

// Position implements Expr.
func (x *Binary) Position() Pos { return x.At }

// Position implements Expr.
func (x *In) Position() Pos { return x.At }

// Position implements Expr.
func (x *Logic) Position() Pos { return x.At }

// Position implements Expr.
func (x *Not) Position() Pos { return x.At }

// Position implements Expr.
func (x *Case) Position() Pos { return x.At }
