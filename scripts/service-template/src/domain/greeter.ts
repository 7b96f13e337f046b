// A domain rule: pure, tested without I/O (greeter.test.ts). Replace it with the service's own.
export class Greeter {
  greet(name: string): string {
    const n = name.trim();
    if (n === '') throw new Error('a name is required');
    return `hello, ${n}`;
  }
}
