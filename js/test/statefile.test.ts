import { describe, expect, it } from "vitest";
import { KernelFreeModel } from "../src/kernelfree";
import { FORMAT, stateFileProblem, stateFileUrl } from "../src/statefile";

describe("stateFileProblem", () => {
  const file = (version: string) => ({ format: FORMAT, version, state: { title: "t" } });

  it("accepts a state file and a directive of this front end's version", () => {
    expect(stateFileProblem(file("1.2.0"), "a.json", "1.2.0", "1.2.0")).toBe("");
    expect(stateFileProblem(file("1.2.0"), "a.json", undefined, "1.2.0")).toBe("");
  });

  it("names both versions when the state file was written by another one", () => {
    const msg = stateFileProblem(file("1.1.0"), "landscapes/a.json", "1.1.0", "1.2.0");
    expect(msg).toContain("landscapes/a.json was written by pinn-landscape-widget 1.1.0");
    expect(msg).toContain("version 1.2.0");
    expect(msg.split("\n")).toHaveLength(1);
  });

  it("names the directive's version when only the directive differs", () => {
    expect(stateFileProblem(file("1.2.0"), "a.json", "0.9.0", "1.2.0")).toContain("written for pinn-landscape-widget 0.9.0");
  });

  it("refuses JSON that is not a state file", () => {
    for (const bad of [null, [], { state: {} }, { format: "other", version: "1.2.0", state: {} }, { format: FORMAT }]) {
      expect(stateFileProblem(bad, "x.json", undefined, "1.2.0")).toContain("x.json is not a pinn-landscape-widget state file");
    }
  });
});

describe("stateFileUrl", () => {
  it("takes a relative path from the ESM's folder, at the site root or under a base URL", () => {
    expect(stateFileUrl("landscapes/a.json", "http://h/plw-widget-ab12.js")).toBe("http://h/landscapes/a.json");
    expect(stateFileUrl("landscapes/a.json", "http://h/book/build/plw-widget-ab12.js"))
      .toBe("http://h/book/build/landscapes/a.json");
    expect(stateFileUrl("/x/a.json", "http://h/book/build/w.js")).toBe("http://h/x/a.json");
    expect(stateFileUrl("https://cdn.example/a.json", "http://h/w.js")).toBe("https://cdn.example/a.json");
  });
});

describe("KernelFreeModel", () => {
  it("keeps settings and tells the listeners of that name only, until they are removed", () => {
    const m = new KernelFreeModel({ z_scale: "log" });
    const heard: string[] = [];
    const f = () => heard.push(String(m.get("z_scale")));
    m.on("change:z_scale", f);
    m.on("change:colormap", () => heard.push("colormap"));
    m.set("z_scale", "linear");
    m.off("change:z_scale", f);
    m.set("z_scale", "log");
    expect(heard).toEqual(["linear"]);
    expect(m.get("z_scale")).toBe("log");
  });
});
