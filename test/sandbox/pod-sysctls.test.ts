import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { sysctlDotName, sysctlNamespace, sysctlPath, validatePodSysctls } from "../../src/sandbox/pod-sysctls.js";

const ownAll = { hostNetwork: false, hostIpc: false };

describe("pod sysctls", () => {
  it("classifies what Kubernetes calls namespaced, and nothing else", () => {
    for (const k of ["kernel.shm_rmid_forced", "kernel.shmmax", "kernel.msgmax", "kernel.sem", "fs.mqueue.msg_max"]) assert.equal(sysctlNamespace(k), "ipc", k);
    for (const k of ["net.ipv4.ip_unprivileged_port_start", "net.core.somaxconn"]) assert.equal(sysctlNamespace(k), "net", k);
    for (const k of ["vm.swappiness", "kernel.pid_max", "kernel.hostname", "kernel.domainname", "kernel.semx", "fs.file-max", "network.x"]) {
      assert.equal(sysctlNamespace(k), undefined, k);
    }
  });

  it("accepts namespaced sysctls of a pod with its own namespaces", () => {
    validatePodSysctls({ "kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.ipv4.ip_unprivileged_port_start": "0", "kernel.sem": "250\t32000 32 128" }, ownAll);
    validatePodSysctls({}, { hostNetwork: true, hostIpc: true });
  });

  it("refuses a host-level sysctl with InvalidArgument naming every bad key", () => {
    assert.throws(() => validatePodSysctls({ "kernel.shm_rmid_forced": "1", "vm.swappiness": "10", "kernel.pid_max": "1000" }, ownAll), (err: { code: Code; message: string }) => {
      assert.equal(err.code, Code.InvalidArgument);
      assert.match(err.message, /"vm\.swappiness" is not namespaced/);
      assert.match(err.message, /"kernel\.pid_max" is not namespaced/);
      assert.doesNotMatch(err.message, /shm_rmid_forced/);
      return true;
    });
  });

  it("refuses net.* for a host-network pod and IPC ones for a host-IPC pod", () => {
    assert.throws(() => validatePodSysctls({ "net.core.somaxconn": "1024" }, { hostNetwork: true, hostIpc: false }), { code: Code.InvalidArgument, message: /uses the host network/ });
    validatePodSysctls({ "kernel.msgmax": "9000" }, { hostNetwork: true, hostIpc: false });
    assert.throws(() => validatePodSysctls({ "fs.mqueue.msg_max": "100" }, { hostNetwork: false, hostIpc: true }), { code: Code.InvalidArgument, message: /host IPC namespace/ });
    validatePodSysctls({ "net.core.somaxconn": "1024" }, { hostNetwork: false, hostIpc: true });
  });

  it("refuses names that leave /proc/sys and values with control characters", () => {
    for (const k of ["net..core", "net.", "net/../../etc/passwd", "net/ipv4/../../vm/swappiness", "", "net.core.a=b", "net.core. x"]) {
      assert.throws(() => validatePodSysctls({ [k]: "1" }, ownAll), { code: Code.InvalidArgument, message: /is not a sysctl name/ }, k);
    }
    assert.throws(() => validatePodSysctls({ "net.core.somaxconn": "1\n2" }, ownAll), { code: Code.InvalidArgument, message: /control character/ });
  });

  it("takes Kubernetes' slash form, where a dot belongs to the component", () => {
    assert.equal(sysctlDotName("net/ipv4/conf/eth0.100/rp_filter"), "net.ipv4.conf.eth0/100.rp_filter");
    assert.equal(sysctlPath("net/ipv4/conf/eth0.100/rp_filter"), "net/ipv4/conf/eth0.100/rp_filter");
    assert.equal(sysctlPath("kernel.shm_rmid_forced"), "kernel/shm_rmid_forced");
    validatePodSysctls({ "kernel/shm_rmid_forced": "1" }, ownAll);
    assert.throws(() => validatePodSysctls({ "vm/swappiness": "1" }, ownAll), { code: Code.InvalidArgument });
  });
});
