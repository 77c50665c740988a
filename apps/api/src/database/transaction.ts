import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

declare const TX: unique symbol;

/**
 * A transaction as services hold it: opaque, so only repositories (which turn it back into their
 * EntityManager with `managerOf`) can reach the database through it. Unit specs pass any object.
 */
export type Tx = { readonly [TX]: true };

export function txOf(manager: EntityManager): Tx {
  return manager as unknown as Tx;
}

export function managerOf(tx: Tx): EntityManager {
  return tx as unknown as EntityManager;
}

/** Runs work in one database transaction; services get a `Tx` to hand to repositories. */
@Injectable()
export class Transactions {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((manager) => work(txOf(manager)));
  }
}
