package abi

// RuleVersion is the version of the rule-module ABI described here. It is
// part of RuleImportModule, so that a module built for another version
// fails to instantiate instead of misbehaving.
const RuleVersion = 3

// RuleImportModule is the module name of the host functions a rule module
// imports.
const RuleImportModule = "wedge_rule_v3"

// Host functions a rule module imports from RuleImportModule. A value is a
// pair (tag i32, bits i64); see the Tag constants.
const (
	// ImportNode evaluates a syntax-tree node on the host:
	// (node i32) -> (tag i32, bits i64).
	ImportNode = "node"
	// ImportCall calls a built-in function whose argc arguments the guest
	// wrote at ArgsOffset: (call i32, argc i32) -> (tag i32, bits i64).
	ImportCall = "call"
	// ImportOp applies an operator the guest did not handle natively:
	// (op i32, ltag i32, lbits i64, rtag i32, rbits i64) -> (tag i32, bits i64).
	ImportOp = "op"
	// ImportEq is exact equality of two values, charging the right one
	// to the work budget when charge is 1:
	// (charge i32, ltag i32, lbits i64, rtag i32, rbits i64) -> i32
	// (0 false, 1 true, 2 error).
	ImportEq = "eq"
	// ImportEmit writes a field's value into the output:
	// (set i32, field i32, tag i32, bits i64) -> status i32.
	ImportEmit = "emit"
	// ImportEmitNode evaluates a node on the host and writes it into the
	// output as ImportEmit does (one crossing for a field that is a path):
	// (set i32, field i32, node i32) -> status i32.
	ImportEmitNode = "emit_node"
	// ImportCallEmit calls a built-in function as ImportCall does and
	// writes the result into the output as ImportEmit does (one crossing
	// for a field that is a function call):
	// (set i32, field i32, call i32, argc i32) -> status i32.
	ImportCallEmit = "call_emit"
	// ImportWhere starts the WHERE clause (it then reads the output):
	// () -> status i32.
	ImportWhere = "where"
	// ImportForeachLast stores the FOREACH collection value:
	// (tag i32, bits i64) -> status i32.
	ImportForeachLast = "foreach_last"
	// ImportForeachBegin starts the FOREACH loop: () -> count i32.
	ImportForeachBegin = "foreach_begin"
	// ImportForeachBind binds the i-th element and, when item is 1, also
	// starts its output item (as ImportForeachItem):
	// (i i32, item i32) -> status i32.
	ImportForeachBind = "foreach_bind"
	// ImportForeachItem starts an output item: () -> status i32.
	ImportForeachItem = "foreach_item"
	// ImportFlush makes the host apply the deferred records (see
	// RecOffset) when the record area is full: () -> status i32. Every
	// other import applies them too before it does its own work.
	ImportFlush = "flush"
	// ImportForeachFill makes the host write the element slots of the
	// FOREACH elements from i on (see ElemOffset): (i i32) -> status i32.
	ImportForeachFill = "foreach_fill"
)

// Names a module exports.
const (
	// ExportMemory is the module's linear memory.
	ExportMemory = "memory"
	// ExportEval evaluates a rule on the current message with the given
	// work budget: (limit i64) -> (status i32, work i64, recs i32). It
	// sets ExportLimit to limit and ExportWork to 0 before the rule runs,
	// and returns the status with the final values of ExportWork and
	// ExportRecs, so that the host sets and reads no global on a call
	// without host calls.
	ExportEval = "eval"
	// ExportWork is a mutable i64 global: the work units spent so far
	// (host functions read it, and write back what they charged).
	ExportWork = "work"
	// ExportLimit is a mutable i64 global: the work budget (eval's
	// parameter; a host function may raise it during the call).
	ExportLimit = "limit"
	// ExportRecs is a mutable i32 global: the address where the next
	// deferred record goes (RecOffset when none is pending).
	ExportRecs = "recs"
	// ExportJCache is a mutable i32 global: the cache id of the root
	// string whose JSON decoding the work budget was last charged for by
	// the guest (the evaluator's one-entry decoding cache), -1 for none.
	ExportJCache = "jcache"
	// ExportAlloc is reserved for the transforms SDK (a later issue):
	// (size i32) -> ptr i32. Rule modules do not export it.
	ExportAlloc = "alloc"
)

// ArgsOffset is where, in the module's memory, the guest writes the
// arguments of an ImportCall: ArgSlotSize bytes each, the tag (u32 little
// endian) at +0 and the bits (u64 little endian) at +8.
const (
	// ArgsOffset is the address of the first argument slot.
	ArgsOffset = 0
	// ArgSlotSize is the size of one argument slot in bytes.
	ArgSlotSize = 16
	// MaxArgs is the number of argument slots (a call with more
	// arguments is evaluated on the host with ImportNode).
	MaxArgs = 256
)

// Memory layout of a rule module's one page, after the argument slots.
// A slot is ArgSlotSize bytes: the tag (u32) at +0, the bits (u64) at +8.
const (
	// SlotsOffset is where the host writes, before each call, the input
	// slots: the values of the column paths the compiler found the rule
	// reads from the unmodified input (payload.temp, clientid), one slot
	// each. A slot tagged TagSlow is read with ImportNode instead.
	SlotsOffset = 4096
	// MaxSlots is the number of input slots.
	MaxSlots = 256
	// RootsOffset holds, per column read through a slot path with steps,
	// 16 bytes: its cache id (i32 at +0; -1 when the column is not a
	// string, so reading into it decodes nothing) and its length (i64 at
	// +8), which the guest charges as the evaluator's decoding does.
	RootsOffset = SlotsOffset + MaxSlots*ArgSlotSize
	// MaxRoots is the number of such columns.
	MaxRoots = 64
	// InfoOffset holds the number of input columns (i64), which FOREACH
	// charges per element.
	InfoOffset = RootsOffset + MaxRoots*16
	// ElemOffset is where the host writes the element slots of FOREACH:
	// for each element of a chunk, one slot per element path the rule
	// reads (s.v, s.id for FOREACH ... AS s).
	ElemOffset = 12288
	// ElemSlots is the number of element slots.
	ElemSlots = 1280
	// RecOffset is the area of deferred records: output writes and the
	// other host work whose result the guest does not need, which the
	// host applies in order at its next import call or when eval returns.
	// A record is RecSize bytes: a head (u32: kind | set<<8 | tag<<16), a
	// field or element index (u32 at +4), the bits of a value (u64 at +8)
	// and the work spent when it was written (u64 at +16); a RecCallEmit
	// record has the call id (u32 at +8) and argc (u32 at +12), followed by
	// argc argument slots.
	RecOffset = 32768
	// RecEnd is the end of the record area.
	RecEnd = 65536
	// RecSize is the size of a record without arguments.
	RecSize = 24
)

// Kinds of deferred records.
const (
	RecEmit     = 1 // ImportEmit's work
	RecWhere    = 2 // ImportWhere's work
	RecItem     = 3 // ImportForeachItem's work
	RecBind     = 4 // binds FOREACH element (field) to its simple name
	RecCallEmit = 5 // ImportCallEmit's work, arguments in the record
)

// Value tags. Undefined and null have bits 0; a boolean has bits 0 or 1; an
// integer has its two's complement bits; a float its IEEE 754 bits; a ref
// is an index into the host's table of values of the current call
// (strings, arrays and maps stay on the host).
const (
	TagUndefined = 0 // undefined (a missing column, key or index)
	TagNull      = 1 // JSON null
	TagBool      = 2 // a boolean
	TagInt       = 3 // a 64-bit integer
	TagFloat     = 4 // a 64-bit float
	TagRef       = 5 // a string, array or map held by the host
	// TagError means the host recorded an error; the guest returns
	// StatusHostError.
	TagError = 6
	// TagSlow, only in an input or element slot, means the host could not
	// prefetch the value: the guest evaluates the path with ImportNode.
	TagSlow = 7
)

// Status codes returned by ExportEval and the host functions that return
// a status.
const (
	StatusOK        = 0 // the rule produced its output
	StatusNoMatch   = 1 // WHERE was false: no output
	StatusHostError = 2 // the host recorded an evaluation error
	StatusBudget    = 3 // the work budget was exceeded
)

// Operator codes of ImportOp.
const (
	OpAdd    = iota + 1 // +
	OpSub               // -
	OpMul               // *
	OpDiv               // /
	OpIntDiv            // div
	OpMod               // mod
	OpEq                // =
	OpNe                // !=
	OpLt                // <
	OpLe                // <=
	OpGt                // >
	OpGe                // >=
	OpMatch             // =~
	OpNeg               // unary minus (right operand unused)
	OpPlus              // unary plus (right operand unused)
)

// Field sets of ImportEmit.
const (
	SetSelect = 0 // SELECT / FOREACH fields, into the output object
	SetDo     = 1 // DO fields, into the current FOREACH item
)
