/** A path field of /proc/self/mountinfo with its octal escapes (`\040` for a space...) decoded. */
export function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}
