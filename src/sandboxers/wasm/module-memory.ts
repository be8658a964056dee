/**
 * The initial size, in 64 KiB pages, of a wasm module's first memory (defined
 * or imported), read from its binary without compiling it; undefined when the
 * bytes are not a core wasm module or declare no memory. Used where an engine
 * would not report that a module cannot even start under its memory cap.
 */
export function initialMemoryPages(bytes: Uint8Array): number | undefined {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return undefined;
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) return undefined; // a component, or another version
  try {
    return firstMemory(bytes);
  } catch {
    return undefined; // truncated or malformed: the engine will say what is wrong
  }
}

function firstMemory(bytes: Uint8Array): number | undefined {
  const r = new Reader(bytes, 8);
  while (!r.done()) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 2) {
      const pages = importedMemory(new Reader(bytes.subarray(0, end), r.pos));
      if (pages !== undefined) return pages;
    } else if (id === 5) {
      const s = new Reader(bytes.subarray(0, end), r.pos);
      if (s.u32() > 0) return limitsMin(s);
    }
    r.pos = end;
  }
  return undefined;
}

/** The import section's first memory import's minimum, if any. */
function importedMemory(r: Reader): number | undefined {
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    r.skipName();
    r.skipName();
    const kind = r.byte();
    switch (kind) {
      case 0: // function: type index
        r.u32();
        break;
      case 1: // table: reftype + limits
        r.byte();
        limitsMin(r);
        break;
      case 2:
        return limitsMin(r);
      case 3: // global: valtype + mutability
        r.byte();
        r.byte();
        break;
      default:
        return undefined; // an import kind from a later proposal: stop guessing
    }
  }
  return undefined;
}

/** Reads limits (flags, min, [max]) and returns min. */
function limitsMin(r: Reader): number {
  const flags = r.byte();
  const min = r.u32();
  if (flags & 1) r.u32();
  return min;
}

class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  done(): boolean {
    return this.pos >= this.bytes.length;
  }

  byte(): number {
    if (this.pos >= this.bytes.length) throw new RangeError("wasm binary truncated");
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 of up to 32 bits (memory64 limits beyond that are not expected here). */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new RangeError("wasm binary: LEB128 too long");
    }
  }

  skipName(): void {
    const length = this.u32(); // read first: `pos += u32()` would add to the old pos
    this.pos += length;
  }
}
