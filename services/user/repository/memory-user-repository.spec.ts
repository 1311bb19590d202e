import { repositoryContract } from "../test/repository-contract.js";
import { createMemoryUserRepository } from "./memory-user-repository.js";

repositoryContract("in memory", async () => createMemoryUserRepository());
