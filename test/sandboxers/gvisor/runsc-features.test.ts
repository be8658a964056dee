import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRunscFeatures } from "../../../src/sandboxers/gvisor/runsc-features.js";

describe("runsc features", () => {
  it("reads a 2024 build: systrap first (its default), directfs", () => {
    const f = parseRunscFeatures(
      "runsc version 0.0~20240729.0\nspec: 1.2.0\n",
      "  -directfs\n    \tdirectly access the container filesystems from the sentry. (default true)\n  -platform string\n    \tspecifies which platform to use: systrap (default), ptrace, kvm. (default \"systrap\")\n",
    );
    assert.deepEqual(f, { version: "0.0~20240729.0", platforms: ["systrap", "ptrace", "kvm"], directfs: true });
  });

  it("reads a 2022 build: ptrace and kvm only, no directfs", () => {
    const f = parseRunscFeatures("runsc version 0.0~20221219.0\n", "  -platform string\n    \tspecifies which platform to use: ptrace (default), kvm. (default \"ptrace\")\n");
    assert.deepEqual(f, { version: "0.0~20221219.0", platforms: ["ptrace", "kvm"], directfs: false });
  });

  it("falls back to ptrace when the flags say nothing about platforms", () => {
    assert.deepEqual(parseRunscFeatures("", "").platforms, ["ptrace"]);
  });
});
