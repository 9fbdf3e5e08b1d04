package wasm_test

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
	"github.com/wedge-iot/wedge/wasm"
)

// A module importing env.add1 and exporting run(x) = add1(x), in the
// binary format.
var addModule = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type (i32) -> i32
	0x02, 0x0c, 0x01, 0x03, 'e', 'n', 'v', 0x04, 'a', 'd', 'd', '1', 0x00, 0x00, // import env.add1
	0x03, 0x02, 0x01, 0x00, // one function
	0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x01, // export run
	0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b, // local.get 0; call 0
}

func Example() {
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)
	i32 := []api.ValueType{api.ValueTypeI32}
	err = rt.RegisterHost(ctx, "env", []wasm.HostFunc{{Name: "add1", Params: i32, Results: i32,
		Fn: func(_ context.Context, _ *wasm.Instance, stack []uint64) { stack[0]++ }}})
	if err != nil {
		panic(err)
	}
	m, err := rt.Compile(ctx, addModule, "run", nil) // once, at deploy
	if err != nil {
		panic(err)
	}
	inst, err := m.Get(ctx) // per call: from the pool
	if err != nil {
		panic(err)
	}
	stack := []uint64{41}
	if err := inst.Call(stack); err != nil {
		panic(err)
	}
	m.Put(inst)
	fmt.Println(stack[0])
	// Output: 42
}
