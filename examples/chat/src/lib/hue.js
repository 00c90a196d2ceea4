// A stable hue per name, so a person has the same colour in the list, on their messages and
// on their cursor tag, in every browser.
export function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 360;
}

/** The first letter (a whole code point, so names starting with an emoji keep it intact). */
export const initial = (name) => [...name][0]?.toUpperCase() ?? '?';
