import { describe, expect, it } from "vitest";
import { Random } from "./random.js";

/** The first draws of a stream, enough to tell two streams apart. */
const opening = (random: Random) => random.hex(32);

describe("Random.fork", () => {
  it("gives every stream of a fork tree, at any depth, its own draws", () => {
    const root = new Random(1);
    const streams: Random[] = [];
    const grow = (parent: Random, depth: number) => {
      for (let child = 0; child < 3; child++) {
        const forked = parent.fork();
        streams.push(forked);
        if (depth > 1) grow(forked, depth - 1);
      }
    };
    grow(root, 3);
    const openings = [root, ...streams].map(opening);
    expect(openings).toHaveLength(1 + 3 + 9 + 27);
    expect(new Set(openings).size).toBe(openings.length);
  });

  it("a fork's fork starts where neither its parent nor its parent's next fork does", () => {
    const parent = new Random(7);
    const child = parent.fork();
    const grandchild = child.fork();
    const sibling = parent.fork();
    const draws = [parent, child, grandchild, sibling].map(opening);
    expect(new Set(draws).size).toBe(4);
  });

  it("forks the same way from the same seed", () => {
    const twice = () => {
      const root = new Random(3);
      const child = root.fork();
      return [opening(child.fork()), opening(child), opening(root)];
    };
    expect(twice()).toEqual(twice());
  });
});
