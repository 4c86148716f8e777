// Original file: proto/envoy/type/v3/http_status.proto

export const StatusCode = {
  Empty: 'Empty',
  OK: 'OK',
  BadRequest: 'BadRequest',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  NotFound: 'NotFound',
  TooManyRequests: 'TooManyRequests',
  InternalServerError: 'InternalServerError',
  ServiceUnavailable: 'ServiceUnavailable',
} as const;

export type StatusCode =
  | 'Empty'
  | 0
  | 'OK'
  | 200
  | 'BadRequest'
  | 400
  | 'Unauthorized'
  | 401
  | 'Forbidden'
  | 403
  | 'NotFound'
  | 404
  | 'TooManyRequests'
  | 429
  | 'InternalServerError'
  | 500
  | 'ServiceUnavailable'
  | 503

export type StatusCode__Output = typeof StatusCode[keyof typeof StatusCode]
