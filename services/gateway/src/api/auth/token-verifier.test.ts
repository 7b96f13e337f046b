// Issuer and audience are always checked (issue 15): a token with the right key but another issuer or
// audience is refused, and a key set published without issuer or audience is not loaded at all.
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createLogger } from '@parley/kit';
import { TokenVerifier, subprotocolToken } from './token-verifier.js';

const logger = createLogger('tv-test', 'silent');

async function setup(issuer = 'parley', audience = 'parley') {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  const session = {
    getSigningKeys: async () => ({ keys: [{ kid: 'k1', alg: 'ES256', publicJwkJson: JSON.stringify(jwk), notAfter: 0n }], issuer, audience }),
  };
  const v = new TokenVerifier(session as never, logger, 60_000);
  const sign = (claims: { iss?: string; aud?: string }) => {
    let j = new SignJWT({ did: 'd_1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('u_1').setIssuedAt().setExpirationTime('5m');
    if (claims.iss !== undefined) j = j.setIssuer(claims.iss);
    if (claims.aud !== undefined) j = j.setAudience(claims.aud);
    return j.sign(privateKey);
  };
  return { v, sign };
}

it('accepts the right issuer and audience, refuses any other or a missing one', async () => {
  const { v, sign } = await setup();
  await v.refresh();
  await expect(v.verify(await sign({ iss: 'parley', aud: 'parley' }))).resolves.toMatchObject({ userId: 'u_1', deviceId: 'd_1' });
  for (const claims of [{ iss: 'evil', aud: 'parley' }, { iss: 'parley', aud: 'evil' }, { aud: 'parley' }, { iss: 'parley' }]) {
    await expect(v.verify(await sign(claims))).rejects.toMatchObject({ code: 'unauthorized' });
  }
});

it('refuses to load a key set without issuer or audience (never "accept any")', async () => {
  for (const [iss, aud] of [['', 'parley'], ['parley', '']]) {
    const { v } = await setup(iss, aud);
    await expect(v.refresh()).rejects.toThrow(/no issuer or audience/);
    expect(v.loaded).toBe(false);
  }
});

it('reads the token from Sec-WebSocket-Protocol', () => {
  expect(subprotocolToken('parley.v1, parley.bearer.abc.def.ghi')).toBe('abc.def.ghi');
  expect(subprotocolToken('parley.v1')).toBeUndefined();
  expect(subprotocolToken('parley.bearer.')).toBeUndefined();
  expect(subprotocolToken(undefined)).toBeUndefined();
});
