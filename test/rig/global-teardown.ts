export default async function globalTeardown(): Promise<void> {
  await globalThis.__ROLLBACK_TEST_SERVER__?.stop();
}
