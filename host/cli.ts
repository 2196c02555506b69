console.log("wasm-reactor: CLI under construction");
