import "reflect-metadata";
import { Module } from "@nestjs/common";
import { UserController } from "./user.controller.mjs";

export class AppModule {}
Reflect.decorate([Module({ controllers: [UserController] })], AppModule);
