package rules

import "math"

// mathFuncs: the arithmetic operators as functions, and math.
var mathFuncs = []Builtin{
	fn2("+", func(a, b Value) (Value, error) { return Arith(OpAdd, a, b) }),
	fn2("-", func(a, b Value) (Value, error) { return Arith(OpSub, a, b) }),
	fn2("*", func(a, b Value) (Value, error) { return Arith(OpMul, a, b) }),
	fn2("/", func(a, b Value) (Value, error) { return Arith(OpDiv, a, b) }),
	fn2("div", func(a, b Value) (Value, error) { return Arith(OpIntDiv, a, b) }),
	fn2("mod", func(a, b Value) (Value, error) { return Arith(OpMod, a, b) }),
	fn2("eq", func(a, b Value) (Value, error) { return termCompare(a, b) == 0, nil }),
	fn1("abs", absFn),
	fn1("ceil", func(a Value) (Value, error) { return roundWith("ceil", a, math.Ceil) }),
	fn1("floor", func(a Value) (Value, error) { return roundWith("floor", a, math.Floor) }),
	fn1("round", func(a Value) (Value, error) { return roundWith("round", a, math.Round) }),
	float1("sqrt", math.Sqrt),
	float1("exp", math.Exp),
	float1("log", logFn(math.Log)),
	float1("log10", logFn(math.Log10)),
	float1("log2", logFn(math.Log2)),
	float2("power", math.Pow),
	float2("fmod", math.Mod),
	float1("sin", math.Sin),
	float1("cos", math.Cos),
	float1("tan", math.Tan),
	float1("asin", math.Asin),
	float1("acos", math.Acos),
	float1("atan", math.Atan),
	float1("sinh", math.Sinh),
	float1("cosh", math.Cosh),
	float1("tanh", math.Tanh),
	float1("asinh", math.Asinh),
	float1("acosh", math.Acosh),
	float1("atanh", math.Atanh),
}

// absFn takes integers and (a decision: EMQX 4.2 raises an error) floats.
func absFn(a Value) (Value, error) {
	switch x := a.(type) {
	case int64:
		if x == math.MinInt64 {
			return nil, overflow("abs")
		}
		if x < 0 {
			return -x, nil
		}
		return x, nil
	case float64:
		return math.Abs(x), nil
	}
	return nil, badArg("abs", a, "a number")
}

// floatToInt converts an integral float to int64, failing outside its range.
func floatToInt(fn string, f float64) (Value, error) {
	if math.IsNaN(f) || f >= 1<<63 || f < -(1<<63) {
		return nil, evalErr("%s: %s does not fit a 64-bit integer", fn, FormatFloat(f))
	}
	return int64(f), nil
}

func roundWith(fn string, a Value, r func(float64) float64) (Value, error) {
	switch x := a.(type) {
	case int64:
		return x, nil
	case float64:
		return floatToInt(fn, r(x))
	}
	return nil, badArg(fn, a, "a number")
}

func logFn(f func(float64) float64) func(float64) float64 {
	return func(x float64) float64 {
		if x <= 0 {
			return math.NaN()
		}
		return f(x)
	}
}

func float1(name string, f func(float64) float64) Builtin {
	return fn1(name, func(a Value) (Value, error) {
		x, err := argNum(name, a)
		if err != nil {
			return nil, err
		}
		r := f(x)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, evalErr("%s: argument %s out of the function's domain", name, ToText(a))
		}
		return r, nil
	})
}

func float2(name string, f func(float64, float64) float64) Builtin {
	return fn2(name, func(a, b Value) (Value, error) {
		x, err := argNum(name, a)
		if err != nil {
			return nil, err
		}
		y, err := argNum(name, b)
		if err != nil {
			return nil, err
		}
		r := f(x, y)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, evalErr("%s: arguments %s, %s out of the function's domain", name, ToText(a), ToText(b))
		}
		return r, nil
	})
}
